// The narrow device interface: a backend owns the model weights and the KV pool on one
// device and executes batched operations over session and window handles. The scheduler
// decides what runs; a backend only executes. A GPU or NPU backend implements the same class.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "whisper_model.h"

namespace chorus {

struct BackendOptions {
  int threads = 0;  // 0: one per core
  // Storage of the linear layers and the tied embedding/output projection; activations,
  // attention and the conv stem stay fp32 whatever this is.
  ModelPrecision precision;
  int max_windows = 4;
  int max_sessions = 8;
  int max_streaming_windows = 0;
  // When non-zero, sizes the pool instead of max_windows and max_sessions: as many streams of
  // stream_windows windows and stream_sessions hypotheses as fit (kv_capacity_for_budget).
  size_t kv_budget_bytes = 0;
  int stream_windows = 1;
  int stream_sessions = 1;
  int stream_streaming_windows = 0;
  // Cross-attention heads, [decoder layer, head], whose weights follow the audio closely enough
  // to time words; decode can return their attention when asked.
  std::vector<std::pair<int, int>> alignment_heads;
  // Tokens [0, text_tokens) are text; the special tokens and timestamps after them are always
  // scored exactly. With a bf16 vocabulary and text_tokens > 0, decode ranks the text tokens
  // by int8 scores and scores the top again in bf16 (kernels::gemm_ranked); 0 scores every
  // token at the vocabulary's precision.
  int text_tokens = 0;
};

// One encoder run: normalised log-mel [n_mels][mel_frames] into a window slot.
//
// A streaming window can grow: encoder frames before first_frame are kept as they are (their
// encoder K/V is cached in the window), and frames [first_frame, mel_frames / 2) are computed
// attending over all frames up to mel_frames / 2. Frames are therefore computed without the
// audio after them, so callers re-encode the last few (a lookahead) at the next call; the mel
// must hold the whole window, since the convolutions read a little before first_frame.
// Past its audio, a streaming window holds the states of a silent 30 s window (encoded once),
// so its audio attends over padding as a padded window's does without encoding the padding.
struct EncodeJob {
  int window;
  const float* mel;
  int mel_frames;       // even, at most 2 * n_audio_ctx
  float* output;        // optional: receives the states of the frames computed, [frames][n_state]
  int first_frame = 0;  // > 0 only for a streaming window
  // Streaming windows: the frames the decoder sees, at least mel_frames / 2 (0: just those);
  // the frames past the audio hold a silent window's states.
  int window_frames = 0;
};

// Feed tokens to a session at a cache position; positions past it are discarded first, so a
// session can rewind (temperature fallback, prompt changes) without copying.
struct DecodeItem {
  int session;
  int position;
  int n_tokens;
  const int32_t* tokens;
  // Index among tokens of one more token whose logits are wanted, before the last (-1: none):
  // a prompt and the tokens that follow it go in one call, yet the prompt's end still gives
  // its own prediction (Whisper's no-speech probability is read at <|startoftranscript|>).
  int extra_row = -1;
};

struct PoolStats {
  int max_windows, windows_in_use, max_sessions, sessions_in_use, max_streaming_windows, streaming_windows_in_use;
  size_t window_bytes, session_bytes, streaming_window_bytes;
};

// Thread contract: handle bookkeeping (create_*, release_*, pool_stats) is safe from any
// thread; fork_session, log_mel, encode and decode run on the one thread that owns the device.
// Callers order releases after the work that uses a handle.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual const WhisperDims& dims() const = 0;
  virtual std::string device_name() const = 0;
  virtual size_t weight_bytes() const = 0;
  virtual const ModelPrecision& precision() const = 0;
  virtual PoolStats pool_stats() const = 0;
  virtual int alignment_head_count() const = 0;

  virtual int create_window(bool streaming) = 0;  // -1: pool exhausted
  virtual void release_window(int window) = 0;
  virtual int create_session(int window) = 0;  // -1: pool exhausted
  virtual int fork_session(int session) = 0;   // copies the self-attention cache
  virtual void release_session(int session) = 0;

  // log10 mel power of 16 kHz mono pcm as [n_mels][n / 160].
  virtual void log_mel(const float* pcm, int n, std::vector<float>& out) = 0;
  virtual void encode(const std::vector<EncodeJob>& jobs) = 0;
  // Logits of each item's last token, [items][n_vocab]. When attention is given, it receives
  // that token's cross-attention weights (after softmax) of each alignment head,
  // [items][alignment heads][n_audio_ctx], zero past the frames of the item's window: a
  // sampled token's row tells which audio it was read from. extra_logits ([items][n_vocab])
  // receives the logits of each item's extra_row; the rows of items without one are left as
  // they were. It may be null when no item has one.
  virtual void decode(const std::vector<DecodeItem>& items, float* logits, float* attention, float* extra_logits) = 0;
};

std::unique_ptr<Backend> make_cpu_backend(const std::string& model_dir, const BackendOptions& options);

}  // namespace chorus
