// Whisper on the CPU: fp32 activations over packed fp32, bf16 or int8 weights, every product
// through chorus::kernels::gemm, work split over one shared thread pool.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "backend.h"
#include "kv_pool.h"
#include "log_mel.h"

namespace chorus {
namespace {

using kernels::gemm;

constexpr float kLayerNormEps = 1e-5f;

template <typename T>
void ensure(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
}

KvCapacity pool_capacity(const WhisperDims& dims, const BackendOptions& opt) {
  if (opt.kv_budget_bytes == 0) return {opt.max_windows, opt.max_sessions, opt.max_streaming_windows};
  return kv_capacity_for_budget(dims, opt.kv_budget_bytes,
                                {opt.stream_windows, opt.stream_sessions, opt.stream_streaming_windows});
}

class CpuBackend final : public Backend {
 public:
  CpuBackend(const std::string& dir, const BackendOptions& opt)
      : model_(WhisperModel::load(dir, opt.precision)),
        pool_(model_.dims, pool_capacity(model_.dims, opt)),
        threads_(opt.threads > 0 ? opt.threads : std::max(1u, std::thread::hardware_concurrency())),
        mel_(model_.dims.n_mels),
        alignment_slot_(static_cast<size_t>(model_.dims.n_text_layer) * model_.dims.n_head, -1) {
    if (opt.text_tokens < 0 || opt.text_tokens > model_.dims.n_vocab) {
      throw std::invalid_argument("text_tokens " + std::to_string(opt.text_tokens) + " is outside the vocabulary of " +
                                  std::to_string(model_.dims.n_vocab));
    }
    if (opt.text_tokens > 0 && model_.token_embedding.precision == kernels::Precision::Bf16) {
      token_ranking_ = kernels::rank_copy(model_.token_embedding.bf16);
      text_tokens_ = opt.text_tokens;
    }
    const auto& heads = opt.alignment_heads;
    for (size_t k = 0; k < heads.size(); ++k) {
      const auto [layer, head] = heads[k];
      if (layer < 0 || layer >= model_.dims.n_text_layer || head < 0 || head >= model_.dims.n_head) {
        throw std::invalid_argument("alignment head [" + std::to_string(layer) + ", " + std::to_string(head) +
                                    "] is outside the decoder's " + std::to_string(model_.dims.n_text_layer) +
                                    " layers x " + std::to_string(model_.dims.n_head) + " heads");
      }
      int& slot = alignment_slot_[static_cast<size_t>(layer) * model_.dims.n_head + head];
      if (slot >= 0) throw std::invalid_argument("alignment head listed twice");
      slot = static_cast<int>(k);
    }
    alignment_head_count_ = static_cast<int>(heads.size());
  }

  const WhisperDims& dims() const override { return model_.dims; }
  std::string device_name() const override {
    return std::string("cpu-") + kernels::isa_name(kernels::active_isa()) + "-x" + std::to_string(threads_.size());
  }
  size_t weight_bytes() const override { return model_.weight_bytes + token_ranking_.bytes(); }
  const ModelPrecision& precision() const override { return model_.precision; }
  int alignment_head_count() const override { return alignment_head_count_; }
  PoolStats pool_stats() const override {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    return {pool_.max_windows(),          pool_.windows_in_use(),           pool_.max_sessions(),
            pool_.sessions_in_use(),      pool_.max_streaming_windows(),    pool_.streaming_windows_in_use(),
            pool_.window_bytes(),         pool_.session_bytes(),            pool_.streaming_window_bytes()};
  }

  int create_window(bool streaming) override {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    return streaming ? pool_.acquire_streaming_window() : pool_.acquire_window();
  }
  void release_window(int w) override {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    pool_.release_window(w);
  }
  int create_session(int w) override {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    return pool_.acquire_session(w);
  }
  int fork_session(int s) override {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    return pool_.fork_session(s);
  }
  void release_session(int s) override {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    pool_.release_session(s);
  }

  void log_mel(const float* pcm, int n, std::vector<float>& out) override { mel_.compute(pcm, n, out, &threads_); }

  void encode(const std::vector<EncodeJob>& jobs) override {
    if (!jobs.empty()) encode_batch(jobs);
  }

  void decode(const std::vector<DecodeItem>& items, float* logits, float* attention, float* extra_logits) override;

 private:
  void encode_batch(const std::vector<EncodeJob>& jobs);
  // logits[rows][n_vocab] of the final hidden rows h[rows][n_state].
  void vocabulary_scores(int rows, const float* h, float* logits);
  void layer_norm(const float* x, float* out, int rows, const Norm& n) {
    const int s = model_.dims.n_state;
    threads_.parallel_for((rows + 15) / 16, [&](int block) {
      const int r0 = block * 16, r1 = std::min(rows, r0 + 16);
      kernels::layer_norm(x + static_cast<size_t>(r0) * s, out + static_cast<size_t>(r0) * s, r1 - r0, s,
                          n.gamma.data(), n.beta.data(), kLayerNormEps);
    });
  }
  void gelu(float* x, size_t count) {
    const size_t chunk = 16384;
    threads_.parallel_for(static_cast<int>((count + chunk - 1) / chunk), [&](int i) {
      const size_t begin = i * chunk;
      kernels::gelu(x + begin, std::min(chunk, count - begin));
    });
  }
  void linear(int rows, const float* in, const Linear& l, float* out, bool residual) {
    gemm(rows, in, l.in(), l.w, out, l.out(), l.bias(), residual, &threads_);
  }
  void window_attention_bf16(int t, const float* qkv, float* out);
  void window_attention_f16(int t, const float* qkv, float* out);

  WhisperModel model_;
  KvPool pool_;
  mutable std::mutex pool_mutex_;  // slot bookkeeping only; slot contents belong to the device thread
  kernels::ThreadPool threads_;
  LogMel mel_;
  // [layer * n_head + head] -> index among the alignment heads, -1 for the others.
  std::vector<int> alignment_slot_;
  int alignment_head_count_ = 0;
  bool padding_ready_ = false;  // the pool's reserved streaming window holds a silent window
  // A bf16 encoder on AMX attends through the tile products (window_attention_bf16, and its
  // streaming windows cache K/V in bf16 panels): with vdpbf16ps or without bf16 instructions
  // that is slower than the fp32 and fp16 paths (kernel_bench --attention). Fixed at load, so
  // that a streaming window's cache keeps one layout.
  const bool bf16_attention_ = model_.precision.encoder == kernels::Precision::Bf16 && kernels::active_isa() == kernels::Isa::Amx;
  // Otherwise a reduced-precision encoder's whole windows attend through the fp16 kernel with
  // AVX-512, where it beats the fp32 products (21 against 31 ms a layer of a 30 s window); with
  // AVX2 they are level and the portable fp16 kernel is slower, and an fp32 encoder is the
  // reference, so those keep the products. NEON (aarch64, Isa::Neon above the x86 levels) is
  // not measured yet: products there too.
  const bool f16_window_attention_ = !bf16_attention_ && model_.precision.encoder != kernels::Precision::Fp32 &&
                                     kernels::active_isa() >= kernels::Isa::Avx512 &&
                                     kernels::active_isa() != kernels::Isa::Neon;
  std::vector<kernels::Half> f16_kv_;
  // Workspaces grow to the largest shape seen and are then reused.
  std::vector<float> cols_, x1_, x_, h_, qkv_, attn_, ffn_, scores_, packed_;
  std::vector<float> dx_, dh_, dqkv_, dq_, dattn_, dffn_, dscores_, dlast_, dlogits_;
  std::vector<int> extra_items_;  // decode: the items that asked for an extra logits row
  // The output projection's int8 copy that ranks the text tokens, when text_tokens_ > 0.
  kernels::RankedMatrix token_ranking_;
  int text_tokens_ = 0;
  kernels::AlignedArray<uint16_t> bf16_kv_;  // 64-byte aligned: the bf16 kernels load B panels aligned
  size_t bf16_kv_values_ = 0;
};

// Self-attention of one whole window (t frames, scaled queries, keys and values as the rows of
// qkv) through the fp16 kernel that streaming windows use: keys and values rounded to fp16
// once per layer, query rows in blocks of 32 per task.
void CpuBackend::window_attention_f16(int t, const float* qkv, float* out) {
  const auto& d = model_.dims;
  const int s = d.n_state, hd = d.head_dim(), heads = d.n_head;
  const size_t keys_size = kernels::key_panels_size(t, hd), head_size = keys_size + static_cast<size_t>(t) * hd;
  ensure(f16_kv_, heads * head_size);
  threads_.parallel_for(heads, [&](int head) {
    kernels::Half* kv = f16_kv_.data() + head * head_size;
    kernels::pack_keys_f16(qkv + s + head * hd, 3 * s, t, hd, kv, 0);
    kernels::to_f16(qkv + 2 * s + head * hd, 3 * s, t, hd, kv + keys_size, hd);
  });
  constexpr int kQueryBlock = 32;
  const int blocks = (t + kQueryBlock - 1) / kQueryBlock;
  threads_.parallel_for(blocks * heads, [&](int task) {
    const int head = task % heads, r0 = (task / heads) * kQueryBlock;
    // Per pool thread, grown to the largest window seen.
    thread_local std::vector<float> scratch;
    const size_t scratch_size = kernels::attention_scratch_size(kQueryBlock, t, hd);
    if (scratch.size() < scratch_size) scratch.resize(scratch_size);
    kernels::AttentionF16 a;
    a.n = std::min(kQueryBlock, t - r0);
    a.q = qkv + static_cast<size_t>(r0) * 3 * s + head * hd;
    a.ldq = 3 * s;
    a.k = f16_kv_.data() + head * head_size;
    a.v = a.k + keys_size;
    a.ldv = hd;
    a.t = t;
    a.head_dim = hd;
    a.scale = 1.0f;  // q is scaled by the caller
    a.out = out + static_cast<size_t>(r0) * s + head * hd;
    a.ldo = s;
    a.scratch = scratch.data();
    kernels::attention_f16(a);
  });
}

// Self-attention of one whole window (t frames, scaled queries, keys and values as the rows
// of qkv) through the bf16 tile products that run the weights: a bf16 encoder rounds every
// layer's inputs to bf16 already, and fp32 scores over a padded 30 s window were about a third
// of its encoder time.
void CpuBackend::window_attention_bf16(int t, const float* qkv, float* out) {
  const auto& d = model_.dims;
  const int s = d.n_state, hd = d.head_dim(), heads = d.n_head;
  const size_t keys_size = kernels::bf16_panels_size(t, hd), values_size = kernels::bf16_panels_size(hd, t);
  const size_t need = heads * (keys_size + values_size);
  if (need > bf16_kv_values_) {
    bf16_kv_.reset(static_cast<uint16_t*>(kernels::aligned_alloc_bytes(need * sizeof(uint16_t))));
    bf16_kv_values_ = need;
  }
  uint16_t* keys = bf16_kv_.get();
  uint16_t* values = keys + heads * keys_size;
  threads_.parallel_for(2 * heads, [&](int task) {
    const int head = task / 2;
    if (task % 2 == 0) {
      kernels::pack_bf16_nk(qkv + s + head * hd, t, hd, 3 * s, keys + head * keys_size);
    } else {
      kernels::pack_bf16_kn(qkv + 2 * s + head * hd, t, hd, 3 * s, values + head * values_size);
    }
  });
  for (int head = 0; head < heads; ++head) {
    gemm(t, qkv + head * hd, 3 * s, kernels::Bf16Panels{keys + head * keys_size, t, hd}, scores_.data(), t, nullptr, false,
         &threads_);
    threads_.parallel_for((t + 31) / 32, [&](int block) {
      const int r0 = block * 32, r1 = std::min(t, r0 + 32);
      kernels::softmax_rows(scores_.data() + static_cast<size_t>(r0) * t, r1 - r0, t, t);
    });
    gemm(t, scores_.data(), t, kernels::Bf16Panels{values + head * values_size, hd, t}, out + head * hd, s, nullptr, false,
         &threads_);
  }
}

// Every job's frames are stacked into one set of rows, so each weight product runs once for
// the whole batch (one pass over the weights, one fork-join per layer op); only the
// convolutions' edges and self-attention stay per window. A streaming job contributes only
// the frames it computes, and attends over its window's cached encoder K/V as well.
void CpuBackend::encode_batch(const std::vector<EncodeJob>& jobs) {
  const auto& d = model_.dims;
  const int padding = pool_.reserved_streaming_window();
  if (padding >= 0 && !padding_ready_) {
    // Streaming windows hold a full window: past their audio, the states of a silent one.
    padding_ready_ = true;
    const std::vector<float> silence(static_cast<size_t>(d.n_mels) * 2 * d.n_audio_ctx, 0.0f);
    encode_batch({{padding, silence.data(), 2 * d.n_audio_ctx, nullptr, 0}});
  }
  const int s = d.n_state, hd = d.head_dim(), mels = d.n_mels;
  const int n_jobs = static_cast<int>(jobs.size());
  // Per job: encoder frames [first, last) are computed from conv1 outputs [conv_first,
  // mel_frames); their rows among the stacked conv1 outputs and encoder frames.
  std::vector<int> first(n_jobs), last(n_jobs), conv_first(n_jobs), window_frames(n_jobs);
  std::vector<int> mel_row(n_jobs + 1, 0), row(n_jobs + 1, 0);
  int longest = 0;
  for (int j = 0; j < n_jobs; ++j) {
    const auto& job = jobs[j];
    const int tm = job.mel_frames;
    if (tm <= 0 || tm % 2 != 0 || tm > 2 * d.n_audio_ctx) {
      throw std::invalid_argument("encode: mel frames must be even and in [2, " + std::to_string(2 * d.n_audio_ctx) +
                                  "], got " + std::to_string(tm));
    }
    for (int k = 0; k < j; ++k) {
      if (jobs[k].window == job.window) throw std::invalid_argument("encode: a window appears twice in one batch");
    }
    const auto& window = pool_.window(job.window);  // throws on a stale handle before any work
    if (job.first_frame != 0 && !window.streaming) {
      throw std::invalid_argument("encode: only a streaming window can keep frames it encoded before");
    }
    if (job.first_frame < 0 || job.first_frame >= tm / 2) {
      throw std::invalid_argument("encode: first frame " + std::to_string(job.first_frame) + " is past the " +
                                  std::to_string(tm / 2) + " frames asked for");
    }
    first[j] = job.first_frame;
    last[j] = tm / 2;
    if (job.window_frames != 0 && (!window.streaming || job.window_frames < last[j] || job.window_frames > d.n_audio_ctx)) {
      throw std::invalid_argument("encode: a streaming window of " + std::to_string(job.window_frames) +
                                  " frames cannot hold " + std::to_string(last[j]) + " frames of audio");
    }
    window_frames[j] = job.window_frames != 0 ? job.window_frames : last[j];
    // Output frame f reads conv1 outputs 2f - 1 .. 2f + 1.
    conv_first[j] = std::max(0, 2 * first[j] - 1);
    mel_row[j + 1] = mel_row[j] + tm - conv_first[j];
    row[j + 1] = row[j] + last[j] - first[j];
    longest = std::max(longest, last[j]);
  }
  const int tm_all = mel_row[n_jobs], t_all = row[n_jobs];
  // A streaming window starts as the silent window (its encoder K/V as well as its cross
  // K/V); the frames computed overwrite it, and its audio attends over the silence after it
  // as a padded window's audio does.
  for (int j = 0; j < n_jobs; ++j) {
    auto& window = pool_.window(jobs[j].window);
    if (!window.streaming || first[j] != 0 || jobs[j].window == padding) continue;
    auto& silent = pool_.window(padding);
    std::memcpy(window.data.get(), silent.data.get(), pool_.window_bytes());
    std::memcpy(window.encoder_kv.get(), silent.encoder_kv.get(), pool_.streaming_window_bytes() - pool_.window_bytes());
  }

  // conv1 (k=3, pad 1) as an im2col product; each window is padded at its own edges.
  ensure(cols_, static_cast<size_t>(tm_all) * mels * 3);
  for (int j = 0; j < n_jobs; ++j) {
    const int tm = jobs[j].mel_frames;
    kernels::conv1d_k3_cols({jobs[j].mel, mels, tm, 0, tm, 1}, 1, conv_first[j], tm,
                            cols_.data() + static_cast<size_t>(mel_row[j]) * mels * 3, mels * 3);
  }
  ensure(x1_, static_cast<size_t>(tm_all) * s);
  linear(tm_all, cols_.data(), model_.conv1, x1_.data(), false);
  gelu(x1_.data(), static_cast<size_t>(tm_all) * s);

  // conv2 (k=3, stride 2, pad 1) over each job's conv1 rows, which start at conv_first.
  ensure(cols_, static_cast<size_t>(t_all) * s * 3);
  threads_.parallel_for(t_all, [&](int r) {
    const int j = static_cast<int>(std::upper_bound(row.begin(), row.end(), r) - row.begin()) - 1;
    const int f = first[j] + r - row[j];
    const kernels::Conv1dInput conv1_out{x1_.data() + static_cast<size_t>(mel_row[j]) * s, s, jobs[j].mel_frames,
                                         conv_first[j], 1, s};
    kernels::conv1d_k3_cols(conv1_out, 2, f, f + 1, cols_.data() + static_cast<size_t>(r) * s * 3, s * 3);
  });
  ensure(x_, static_cast<size_t>(t_all) * s);
  float* x = x_.data();
  linear(t_all, cols_.data(), model_.conv2, x, false);
  gelu(x, static_cast<size_t>(t_all) * s);
  for (int j = 0; j < n_jobs; ++j) {
    kernels::add_inplace(x + static_cast<size_t>(row[j]) * s, model_.audio_pos.data() + static_cast<size_t>(first[j]) * s,
                         static_cast<size_t>(row[j + 1] - row[j]) * s);
  }

  ensure(h_, static_cast<size_t>(t_all) * s);
  ensure(qkv_, static_cast<size_t>(t_all) * 3 * s);
  ensure(attn_, static_cast<size_t>(t_all) * s);
  ensure(ffn_, static_cast<size_t>(t_all) * 4 * s);
  ensure(scores_, static_cast<size_t>(longest) * longest);
  ensure(packed_, kernels::packed_size(longest, hd) + kernels::packed_size(hd, longest));
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  // A bf16 encoder on AMX attends through the bf16 tile products, with its streaming windows'
  // K/V cached in their panels (keys as columns of K^T, values as rows of V); otherwise fp16
  // key panels and value rows (attention_f16). Either fills the pool's encoder K/V slots exactly.
  const size_t key_panel_stride = kernels::bf16_panels_size(kernels::kPanel, hd);
  const size_t value_panel_stride = kernels::bf16_panels_size(kernels::kPanel, d.n_audio_ctx);
  bool any_streaming = false;
  // fp16 streaming attention runs in tasks of up to kQueryBlock query rows per head.
  constexpr int kQueryBlock = 32;
  const size_t streaming_scratch = kernels::attention_scratch_size(kQueryBlock, d.n_audio_ctx, hd);
  std::vector<std::pair<int, int>> streaming_tasks;  // (job, first query row of the block)
  for (int j = 0; j < n_jobs; ++j) {
    if (!pool_.window(jobs[j].window).streaming) continue;
    any_streaming = true;
    if (bf16_attention_) continue;
    for (int r = 0; r < last[j] - first[j]; r += kQueryBlock) streaming_tasks.emplace_back(j, r);
  }
  if (!streaming_tasks.empty()) ensure(dscores_, streaming_scratch * streaming_tasks.size() * d.n_head);

  for (int l = 0; l < d.n_audio_layer; ++l) {
    const auto& layer = model_.encoder[l];
    layer_norm(x, h_.data(), t_all, layer.attn_ln);
    linear(t_all, h_.data(), layer.qkv, qkv_.data(), false);
    for (int r = 0; r < t_all; ++r) {
      float* q = qkv_.data() + static_cast<size_t>(r) * 3 * s;
      for (int c = 0; c < s; ++c) q[c] *= scale;
    }
    for (int j = 0; j < n_jobs; ++j) {
      if (pool_.window(jobs[j].window).streaming) continue;
      const int t = row[j + 1] - row[j];
      const float* qkv = qkv_.data() + static_cast<size_t>(row[j]) * 3 * s;
      if (bf16_attention_) {
        window_attention_bf16(t, qkv, attn_.data() + static_cast<size_t>(row[j]) * s);
        continue;
      }
      if (f16_window_attention_) {
        window_attention_f16(t, qkv, attn_.data() + static_cast<size_t>(row[j]) * s);
        continue;
      }
      float* packed_k = packed_.data();
      float* packed_v = packed_.data() + kernels::packed_size(t, hd);
      for (int head = 0; head < d.n_head; ++head) {
        kernels::pack_nk_into(qkv + s + head * hd, t, hd, 3 * s, packed_k);
        kernels::pack_kn_into(qkv + 2 * s + head * hd, t, hd, 3 * s, packed_v);
        gemm(t, qkv + head * hd, 3 * s, packed_k, t, hd, scores_.data(), t, nullptr, false, &threads_);
        threads_.parallel_for((t + 31) / 32, [&](int block) {
          const int r0 = block * 32, r1 = std::min(t, r0 + 32);
          kernels::softmax_rows(scores_.data() + static_cast<size_t>(r0) * t, r1 - r0, t, t);
        });
        gemm(t, scores_.data(), t, packed_v, hd, t, attn_.data() + static_cast<size_t>(row[j]) * s + head * hd, s,
             nullptr, false, &threads_);
      }
    }
    if (any_streaming) {
      // The computed frames' keys and values join the window's cache (bf16 panels for the
      // tile products, or fp16 key panels and value rows), then their queries attend over
      // every frame of the window.
      threads_.parallel_for(n_jobs * d.n_head, [&](int task) {
        const int j = task / d.n_head, head = task % d.n_head;
        auto& window = pool_.window(jobs[j].window);
        if (!window.streaming) return;
        const float* src = qkv_.data() + static_cast<size_t>(row[j]) * 3 * s;
        const int n = last[j] - first[j];
        if (bf16_attention_) {
          kernels::write_bf16_columns(src + s + head * hd, 3 * s, first[j], n, hd, key_panel_stride,
                                      pool_.encoder_keys(window, l, head));
          kernels::write_bf16_rows(src + 2 * s + head * hd, 3 * s, first[j], n, hd, value_panel_stride,
                                   pool_.encoder_values(window, l, head));
        } else {
          kernels::pack_keys_f16(src + s + head * hd, 3 * s, n, hd, pool_.encoder_keys(window, l, head), first[j]);
          kernels::to_f16(src + 2 * s + head * hd, 3 * s, n, hd,
                          pool_.encoder_values(window, l, head) + static_cast<size_t>(first[j]) * hd, hd);
        }
      });
    }
    if (any_streaming && bf16_attention_) {
      threads_.parallel_for(n_jobs * d.n_head, [&](int task) {
        const int j = task / d.n_head, head = task % d.n_head;
        auto& window = pool_.window(jobs[j].window);
        if (!window.streaming) return;
        const int n = last[j] - first[j], t = window_frames[j];
        // Per pool thread, grown to the largest window seen.
        thread_local std::vector<float> scores;
        if (scores.size() < static_cast<size_t>(n) * t) scores.resize(static_cast<size_t>(n) * t);
        gemm(n, qkv_.data() + static_cast<size_t>(row[j]) * 3 * s + head * hd, 3 * s,
             kernels::Bf16Panels{pool_.encoder_keys(window, l, head), t, hd, key_panel_stride}, scores.data(), t, nullptr,
             false, nullptr);
        kernels::softmax_rows(scores.data(), n, t, t);
        gemm(n, scores.data(), t, kernels::Bf16Panels{pool_.encoder_values(window, l, head), hd, t, value_panel_stride},
             attn_.data() + static_cast<size_t>(row[j]) * s + head * hd, s, nullptr, false, nullptr);
      });
    } else if (any_streaming) {
      threads_.parallel_for(static_cast<int>(streaming_tasks.size()) * d.n_head, [&](int task) {
        const auto [j, r0] = streaming_tasks[task / d.n_head];
        const int head = task % d.n_head;
        auto& window = pool_.window(jobs[j].window);
        kernels::AttentionF16 a;
        a.n = std::min(kQueryBlock, last[j] - first[j] - r0);
        a.q = qkv_.data() + static_cast<size_t>(row[j] + r0) * 3 * s + head * hd;
        a.ldq = 3 * s;
        a.k = pool_.encoder_keys(window, l, head);
        a.v = pool_.encoder_values(window, l, head);
        a.ldv = hd;
        a.t = window_frames[j];
        a.head_dim = hd;
        a.scale = 1.0f;  // q is scaled above
        a.out = attn_.data() + static_cast<size_t>(row[j] + r0) * s + head * hd;
        a.ldo = s;
        a.scratch = dscores_.data() + static_cast<size_t>(task) * streaming_scratch;
        kernels::attention_f16(a);
      });
    }
    linear(t_all, attn_.data(), layer.attn_out, x, true);
    layer_norm(x, h_.data(), t_all, layer.mlp_ln);
    linear(t_all, h_.data(), layer.fc1, ffn_.data(), false);
    gelu(ffn_.data(), static_cast<size_t>(t_all) * 4 * s);
    linear(t_all, ffn_.data(), layer.fc2, x, true);
  }
  layer_norm(x, h_.data(), t_all, model_.encoder_ln);
  for (int j = 0; j < n_jobs; ++j) {
    if (jobs[j].output) {
      std::memcpy(jobs[j].output, h_.data() + static_cast<size_t>(row[j]) * s,
                  static_cast<size_t>(row[j + 1] - row[j]) * s * sizeof(float));
    }
  }

  // Cross-attention K/V of every decoder layer for the computed frames, stored as fp16 key
  // panels and value rows.
  ensure(qkv_, static_cast<size_t>(t_all) * 2 * s);
  for (int l = 0; l < d.n_text_layer; ++l) {
    linear(t_all, h_.data(), model_.decoder[l].cross_kv, qkv_.data(), false);
    threads_.parallel_for(n_jobs * d.n_head, [&](int task) {
      const int j = task / d.n_head, head = task % d.n_head, t = row[j + 1] - row[j];
      auto& window = pool_.window(jobs[j].window);
      const float* kv = qkv_.data() + static_cast<size_t>(row[j]) * 2 * s;
      kernels::pack_keys_f16(kv + head * hd, 2 * s, t, hd, pool_.cross_keys(window, l, head), first[j]);
      kernels::to_f16(kv + s + head * hd, 2 * s, t, hd,
                      pool_.cross_values(window, l, head) + static_cast<size_t>(first[j]) * hd, hd);
    });
  }
  for (int j = 0; j < n_jobs; ++j) {
    auto& window = pool_.window(jobs[j].window);
    window.frames = window_frames[j];
  }
}

void CpuBackend::vocabulary_scores(int rows, const float* h, float* logits) {
  const auto& d = model_.dims;
  if (text_tokens_ > 0) {
    kernels::gemm_ranked(rows, h, d.n_state, token_ranking_, model_.token_embedding.bf16, text_tokens_, logits, d.n_vocab,
                         &threads_);
  } else {
    gemm(rows, h, d.n_state, model_.token_embedding, logits, d.n_vocab, nullptr, false, &threads_);
  }
}

void CpuBackend::decode(const std::vector<DecodeItem>& items, float* logits, float* attention, float* extra_logits) {
  const auto& d = model_.dims;
  const int s = d.n_state, hd = d.head_dim(), heads = d.n_head;
  const int n_items = static_cast<int>(items.size());
  if (n_items == 0) return;

  // Validate everything before touching any cache, so a bad item fails the call cleanly.
  std::vector<int> first_row(n_items + 1, 0);
  for (int i = 0; i < n_items; ++i) {
    const auto& it = items[i];
    auto& sess = pool_.session(it.session);
    if (it.n_tokens <= 0) throw std::invalid_argument("decode: an item has no tokens");
    if (it.position < 0 || it.position > sess.length) {
      throw std::invalid_argument("decode: position " + std::to_string(it.position) + " is past the cache length " +
                                  std::to_string(sess.length));
    }
    if (it.position + it.n_tokens > d.n_text_ctx) {
      throw std::invalid_argument("decode: text context of " + std::to_string(d.n_text_ctx) + " tokens exceeded");
    }
    for (int j = 0; j < it.n_tokens; ++j) {
      if (it.tokens[j] < 0 || it.tokens[j] >= d.n_vocab) {
        throw std::invalid_argument("decode: token " + std::to_string(it.tokens[j]) + " outside the vocabulary");
      }
    }
    if (it.extra_row < -1 || it.extra_row >= it.n_tokens - 1) {
      throw std::invalid_argument("decode: extra row " + std::to_string(it.extra_row) + " is not one of the item's first " +
                                  std::to_string(it.n_tokens - 1) + " tokens");
    }
    if (it.extra_row >= 0 && extra_logits == nullptr) throw std::invalid_argument("decode: an extra row but no buffer for it");
    if (pool_.window(sess.window).frames == 0) throw std::invalid_argument("decode: session's window was never encoded");
    for (int k = 0; k < i; ++k) {
      if (items[k].session == it.session) throw std::invalid_argument("decode: a session appears twice in one batch");
    }
    first_row[i + 1] = first_row[i] + it.n_tokens;
  }
  const int rows = first_row[n_items];

  ensure(dx_, static_cast<size_t>(rows) * s);
  ensure(dh_, static_cast<size_t>(rows) * s);
  ensure(dqkv_, static_cast<size_t>(rows) * 3 * s);
  ensure(dattn_, static_cast<size_t>(rows) * s);
  ensure(dffn_, static_cast<size_t>(rows) * 4 * s);
  int max_frames = 0;
  for (const auto& it : items) max_frames = std::max(max_frames, pool_.window(pool_.session(it.session).window).frames);
  int max_tokens = 0;
  for (const auto& it : items) max_tokens = std::max(max_tokens, it.n_tokens);
  const size_t scratch_per_task = kernels::attention_scratch_size(max_tokens, std::max(max_frames, d.n_text_ctx), hd);
  ensure(dscores_, scratch_per_task * n_items * heads);

  float* x = dx_.data();
  for (int i = 0; i < n_items; ++i) {
    for (int j = 0; j < items[i].n_tokens; ++j) {
      float* row = x + static_cast<size_t>(first_row[i] + j) * s;
      model_.embed(items[i].tokens[j], row);
      const float* pos = model_.text_pos.data() + static_cast<size_t>(items[i].position + j) * s;
      for (int c = 0; c < s; ++c) row[c] += pos[c];
    }
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));

  for (int l = 0; l < d.n_text_layer; ++l) {
    const auto& layer = model_.decoder[l];
    // Self-attention over each session's own cache.
    layer_norm(x, dh_.data(), rows, layer.self_ln);
    linear(rows, dh_.data(), layer.self_qkv, dqkv_.data(), false);
    // The new tokens' keys and values go into the cache first (fp16), then every row
    // attends over the cache up to and including its own position.
    threads_.parallel_for(n_items * heads, [&](int task) {
      const int i = task / heads, head = task % heads;
      auto& sess = pool_.session(items[i].session);
      const float* src = dqkv_.data() + static_cast<size_t>(first_row[i]) * 3 * s;
      kernels::pack_keys_f16(src + s + head * hd, 3 * s, items[i].n_tokens, hd, pool_.self_keys(sess, l, head),
                             items[i].position);
      kernels::to_f16(src + 2 * s + head * hd, 3 * s, items[i].n_tokens, hd,
                      pool_.self_values(sess, l, head) + static_cast<size_t>(items[i].position) * hd, hd);
      kernels::AttentionF16 a;
      a.n = items[i].n_tokens;
      a.q = src + head * hd;
      a.ldq = 3 * s;
      a.k = pool_.self_keys(sess, l, head);
      a.v = pool_.self_values(sess, l, head);
      a.ldv = hd;
      a.t = items[i].position + items[i].n_tokens;
      a.head_dim = hd;
      a.scale = scale;
      a.causal = true;
      a.out = dattn_.data() + static_cast<size_t>(first_row[i]) * s + head * hd;
      a.ldo = s;
      a.scratch = dscores_.data() + static_cast<size_t>(task) * scratch_per_task;
      kernels::attention_f16(a);
    });
    linear(rows, dattn_.data(), layer.self_out, x, true);

    // Cross-attention over each session's encoded window.
    layer_norm(x, dh_.data(), rows, layer.cross_ln);
    linear(rows, dh_.data(), layer.cross_q, dqkv_.data(), false);
    threads_.parallel_for(n_items * heads, [&](int task) {
      const int i = task / heads, head = task % heads;
      auto& window = pool_.window(pool_.session(items[i].session).window);
      const int slot = attention ? alignment_slot_[static_cast<size_t>(l) * heads + head] : -1;
      float* weights = slot >= 0 ? attention + (static_cast<size_t>(i) * alignment_head_count_ + slot) * d.n_audio_ctx
                                 : nullptr;
      kernels::AttentionF16 a;
      a.n = items[i].n_tokens;
      a.q = dqkv_.data() + static_cast<size_t>(first_row[i]) * s + head * hd;
      a.ldq = s;
      a.k = pool_.cross_keys(window, l, head);
      a.v = pool_.cross_values(window, l, head);
      a.ldv = hd;
      a.t = window.frames;
      a.head_dim = hd;
      a.scale = scale;
      a.out = dattn_.data() + static_cast<size_t>(first_row[i]) * s + head * hd;
      a.ldo = s;
      a.scratch = dscores_.data() + static_cast<size_t>(task) * scratch_per_task;
      a.last_weights = weights;
      kernels::attention_f16(a);
      if (weights) std::fill(weights + window.frames, weights + d.n_audio_ctx, 0.0f);
    });
    linear(rows, dattn_.data(), layer.cross_out, x, true);

    layer_norm(x, dh_.data(), rows, layer.mlp_ln);
    linear(rows, dh_.data(), layer.fc1, dffn_.data(), false);
    gelu(dffn_.data(), static_cast<size_t>(rows) * 4 * s);
    linear(rows, dffn_.data(), layer.fc2, x, true);
  }

  for (int i = 0; i < n_items; ++i) pool_.session(items[i].session).length = items[i].position + items[i].n_tokens;

  // Only each item's last token (and its extra row) needs logits: the vocabulary product
  // dominates a step. Extra rows join the same product, after the last rows.
  auto& extra_items = extra_items_;
  extra_items.clear();
  for (int i = 0; i < n_items; ++i) {
    if (items[i].extra_row >= 0) extra_items.push_back(i);
  }
  const int n_out = n_items + static_cast<int>(extra_items.size());
  ensure(dlast_, static_cast<size_t>(n_out) * s);
  auto gather = [&](int out_row, int row) {
    std::memcpy(dlast_.data() + static_cast<size_t>(out_row) * s, x + static_cast<size_t>(row) * s, s * sizeof(float));
  };
  for (int i = 0; i < n_items; ++i) gather(i, first_row[i + 1] - 1);
  for (size_t e = 0; e < extra_items.size(); ++e) gather(n_items + static_cast<int>(e), first_row[extra_items[e]] + items[extra_items[e]].extra_row);
  layer_norm(dlast_.data(), dh_.data(), n_out, model_.decoder_ln);
  if (extra_items.empty()) {
    vocabulary_scores(n_items, dh_.data(), logits);
    return;
  }
  ensure(dlogits_, static_cast<size_t>(n_out) * d.n_vocab);
  vocabulary_scores(n_out, dh_.data(), dlogits_.data());
  const size_t row_bytes = static_cast<size_t>(d.n_vocab) * sizeof(float);
  std::memcpy(logits, dlogits_.data(), n_items * row_bytes);
  for (size_t e = 0; e < extra_items.size(); ++e) {
    std::memcpy(extra_logits + static_cast<size_t>(extra_items[e]) * d.n_vocab,
                dlogits_.data() + (n_items + e) * static_cast<size_t>(d.n_vocab), row_bytes);
  }
}

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const std::string& model_dir, const BackendOptions& options) {
  return std::make_unique<CpuBackend>(model_dir, options);
}

}  // namespace chorus
