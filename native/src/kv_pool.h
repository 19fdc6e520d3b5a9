// Device memory for every live stream, in two fixed-capacity pools with free lists:
//  - a window slot holds the cross-attention K/V of one encoded audio window, per layer and
//    head, and may be shared by several sessions (beam hypotheses, or a re-decode of the
//    same audio);
//  - a session slot holds one hypothesis' self-attention K/V cache for the full text context;
//  - a streaming window is a window slot that also keeps its encoder's self-attention K/V, so
//    that a live stream's window can grow by encoding only its new audio (and a short
//    lookahead that is recomputed) instead of re-encoding everything it already holds.
// Both hold fp16 keys in panels and fp16 value rows (kernels::attention_f16's layout): a
// decoder step is bound by reading the cross K/V, and half the bytes is half the time.
// Capacity is fixed when the pool is made, from slot counts or from a byte budget; slots are
// allocated the first time they are used and recycled afterwards, so nothing is allocated per
// token or per step.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <vector>

#include "chorus/kernels.h"
#include "whisper_model.h"

namespace chorus {

struct WindowSlot {
  kernels::AlignedBuffer data;  // fp16 storage: see KvPool::cross_keys
  kernels::AlignedBuffer encoder_kv;  // streaming windows only: see KvPool::encoder_keys
  bool streaming = false;
  int frames = 0;  // encoder frames held (<= n_audio_ctx)
  int refs = 0;    // sessions using this window, plus one for the owner handle
  bool in_use = false;
};

struct SessionSlot {
  kernels::AlignedBuffer keys, values;  // fp16 storage: see KvPool::self_keys
  int window = -1;
  int length = 0;  // tokens in the cache
  bool in_use = false;
};

struct KvCapacity {
  int windows = 0;
  int sessions = 0;
  int streaming_windows = 0;
};

size_t kv_window_bytes(const WhisperDims& dims);
size_t kv_session_bytes(const WhisperDims& dims);
size_t kv_streaming_window_bytes(const WhisperDims& dims);  // the window plus its encoder K/V

// As many streams as fit in budget_bytes, each given its worst case `per_stream` (the caller's
// policy: windows and hypotheses a stream may hold at once), so that a stream admitted against
// this capacity can never find the pool empty mid-stream.
KvCapacity kv_capacity_for_budget(const WhisperDims& dims, size_t budget_bytes, KvCapacity per_stream);

class KvPool {
 public:
  KvPool(const WhisperDims& dims, KvCapacity capacity);

  size_t window_bytes() const { return window_halves_ * sizeof(kernels::Half); }
  size_t session_bytes() const { return 2 * session_halves_ * sizeof(kernels::Half); }
  size_t streaming_window_bytes() const { return (window_halves_ + encoder_halves_) * sizeof(kernels::Half); }
  int max_windows() const { return ordinary_windows_; }
  int max_streaming_windows() const { return max_streaming_windows_; }
  // A streaming window outside the free lists, for the backend's own use (the encoding of a
  // silent window that pads streaming windows); -1 when the pool has no streaming windows.
  int reserved_streaming_window() const { return reserved_streaming_; }
  int streaming_windows_in_use() const { return streaming_in_use_; }
  int max_sessions() const { return static_cast<int>(sessions_.size()); }
  int windows_in_use() const { return windows_in_use_; }
  int sessions_in_use() const { return sessions_in_use_; }

  // Return -1 when the pool is exhausted: admission control refuses, nothing fails mid-stream.
  int acquire_window();
  int acquire_streaming_window();
  void release_window(int id);
  int acquire_session(int window);
  int fork_session(int source);
  void release_session(int id);

  WindowSlot& window(int id);
  SessionSlot& session(int id);

  // Keys of (layer, head) in panels of kernels::kPanel keys for n_audio_ctx (cross) or
  // n_text_ctx (self) keys; values as rows [key][head_dim].
  kernels::Half* cross_keys(WindowSlot& w, int layer, int head) const;
  kernels::Half* cross_values(WindowSlot& w, int layer, int head) const;
  // A streaming window's encoder self-attention K/V of (encoder layer, head), same layout.
  kernels::Half* encoder_keys(WindowSlot& w, int layer, int head) const;
  kernels::Half* encoder_values(WindowSlot& w, int layer, int head) const;
  kernels::Half* self_keys(SessionSlot& s, int layer, int head) const;
  kernels::Half* self_values(SessionSlot& s, int layer, int head) const;

 private:
  // Pops a slot of one free list and counts it in `in_use`; -1 when the list is empty.
  int take_window(std::vector<int>& free_list, int& in_use);

  WhisperDims dims_;
  size_t window_halves_, session_halves_, encoder_halves_;  // session: keys or values, each
  // Ordinary windows first, then the streaming ones, each with its own free list.
  std::vector<WindowSlot> windows_;
  std::vector<SessionSlot> sessions_;
  int ordinary_windows_ = 0, max_streaming_windows_ = 0;
  int reserved_streaming_ = -1;
  std::vector<int> free_windows_, free_streaming_, free_sessions_;
  int windows_in_use_ = 0, streaming_in_use_ = 0, sessions_in_use_ = 0;
};

}  // namespace chorus
