#include "kv_pool.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace chorus {

namespace {

// Each head's block starts on a 64-byte line, so no two heads share a cache line.
size_t round_line(size_t halves) { return (halves + 31) / 32 * 32; }

size_t cross_head_halves(const WhisperDims& dims) {
  return round_line(kernels::key_panels_size(dims.n_audio_ctx, dims.head_dim())) +
         round_line(static_cast<size_t>(dims.n_audio_ctx) * dims.head_dim());
}

size_t window_halves(const WhisperDims& dims) {
  return static_cast<size_t>(dims.n_text_layer) * dims.n_head * cross_head_halves(dims);
}

// The encoder's self-attention K/V over a full window, laid out as the cross K/V.
size_t encoder_halves(const WhisperDims& dims) {
  return static_cast<size_t>(dims.n_audio_layer) * dims.n_head * cross_head_halves(dims);
}

// Keys (or values) of one head for the full text context; panels and rows have the same size
// when n_text_ctx is a multiple of the panel width, and the larger is used otherwise.
size_t self_head_halves(const WhisperDims& dims) {
  return round_line(std::max(kernels::key_panels_size(dims.n_text_ctx, dims.head_dim()),
                             static_cast<size_t>(dims.n_text_ctx) * dims.head_dim()));
}

size_t session_halves(const WhisperDims& dims) {
  return static_cast<size_t>(dims.n_text_layer) * dims.n_head * self_head_halves(dims);
}

// AlignedBuffer counts floats; a Half buffer is allocated as half as many.
kernels::AlignedBuffer alloc_halves(size_t halves) { return kernels::aligned_alloc_floats((halves + 1) / 2); }

}  // namespace

size_t kv_window_bytes(const WhisperDims& dims) { return window_halves(dims) * sizeof(kernels::Half); }
size_t kv_session_bytes(const WhisperDims& dims) { return 2 * session_halves(dims) * sizeof(kernels::Half); }
size_t kv_streaming_window_bytes(const WhisperDims& dims) {
  return (window_halves(dims) + encoder_halves(dims)) * sizeof(kernels::Half);
}

KvCapacity kv_capacity_for_budget(const WhisperDims& dims, size_t budget_bytes, KvCapacity per_stream) {
  const int windows = std::max(1, per_stream.windows);
  const int sessions = std::max(1, per_stream.sessions);
  const int streaming = std::max(0, per_stream.streaming_windows);
  const size_t stream_bytes =
      windows * kv_window_bytes(dims) + sessions * kv_session_bytes(dims) + streaming * kv_streaming_window_bytes(dims);
  const int streams = static_cast<int>(std::min<size_t>(budget_bytes / stream_bytes, 1 << 16));
  return {streams * windows, streams * sessions, streams * streaming};
}

KvPool::KvPool(const WhisperDims& dims, KvCapacity capacity)
    : dims_(dims),
      window_halves_(window_halves(dims)),
      session_halves_(session_halves(dims)),
      encoder_halves_(encoder_halves(dims)),
      windows_(std::max(0, capacity.windows) + std::max(0, capacity.streaming_windows) +
               (capacity.streaming_windows > 0 ? 1 : 0)),
      sessions_(std::max(0, capacity.sessions)),
      max_streaming_windows_(std::max(0, capacity.streaming_windows)) {
  // Lowest ids first so that reuse keeps touching the same, already faulted-in memory.
  const int ordinary = ordinary_windows_ = std::max(0, capacity.windows);
  for (int i = ordinary - 1; i >= 0; --i) free_windows_.push_back(i);
  for (int i = capacity.sessions - 1; i >= 0; --i) free_sessions_.push_back(i);
  for (int i = static_cast<int>(windows_.size()) - 1; i >= ordinary; --i) windows_[i].streaming = true;
  if (max_streaming_windows_ == 0) return;
  reserved_streaming_ = static_cast<int>(windows_.size()) - 1;
  for (int i = reserved_streaming_ - 1; i >= ordinary; --i) free_streaming_.push_back(i);
  auto& reserved = windows_[reserved_streaming_];
  reserved.data = alloc_halves(window_halves_);
  reserved.encoder_kv = alloc_halves(encoder_halves_);
  reserved.refs = 1;
  reserved.in_use = true;
}

int KvPool::acquire_window() { return take_window(free_windows_, windows_in_use_); }

int KvPool::acquire_streaming_window() { return take_window(free_streaming_, streaming_in_use_); }

int KvPool::take_window(std::vector<int>& free_list, int& in_use) {
  if (free_list.empty()) return -1;
  const int id = free_list.back();
  free_list.pop_back();
  auto& w = windows_[id];
  if (!w.data) w.data = alloc_halves(window_halves_);
  if (w.streaming && !w.encoder_kv) w.encoder_kv = alloc_halves(encoder_halves_);
  w.frames = 0;
  w.refs = 1;
  w.in_use = true;
  ++in_use;
  return id;
}

void KvPool::release_window(int id) {
  auto& w = window(id);
  if (--w.refs > 0) return;
  w.in_use = false;
  if (w.streaming) {
    free_streaming_.push_back(id);
    --streaming_in_use_;
  } else {
    free_windows_.push_back(id);
    --windows_in_use_;
  }
}

int KvPool::acquire_session(int window_id) {
  auto& w = window(window_id);
  if (free_sessions_.empty()) return -1;
  const int id = free_sessions_.back();
  free_sessions_.pop_back();
  auto& s = sessions_[id];
  if (!s.keys) {
    s.keys = alloc_halves(session_halves_);
    s.values = alloc_halves(session_halves_);
  }
  s.window = window_id;
  s.length = 0;
  s.in_use = true;
  ++w.refs;
  ++sessions_in_use_;
  return id;
}

int KvPool::fork_session(int source) {
  auto& src = session(source);
  const int id = acquire_session(src.window);
  if (id < 0) return -1;
  auto& dst = sessions_[id];
  // Only the filled prefix: whole key panels up to the length, and that many value rows.
  const int hd = dims_.head_dim();
  const size_t key_halves = kernels::key_panels_size(src.length, hd);
  const size_t value_halves = static_cast<size_t>(src.length) * hd;
  for (int l = 0; l < dims_.n_text_layer; ++l) {
    for (int h = 0; h < dims_.n_head; ++h) {
      std::memcpy(self_keys(dst, l, h), self_keys(src, l, h), key_halves * sizeof(kernels::Half));
      std::memcpy(self_values(dst, l, h), self_values(src, l, h), value_halves * sizeof(kernels::Half));
    }
  }
  dst.length = src.length;
  return id;
}

void KvPool::release_session(int id) {
  auto& s = session(id);
  const int w = s.window;
  s.in_use = false;
  s.window = -1;
  free_sessions_.push_back(id);
  --sessions_in_use_;
  release_window(w);
}

WindowSlot& KvPool::window(int id) {
  if (id < 0 || id >= static_cast<int>(windows_.size()) || !windows_[id].in_use) {
    throw std::invalid_argument("unknown window handle " + std::to_string(id));
  }
  return windows_[id];
}

SessionSlot& KvPool::session(int id) {
  if (id < 0 || id >= static_cast<int>(sessions_.size()) || !sessions_[id].in_use) {
    throw std::invalid_argument("unknown session handle " + std::to_string(id));
  }
  return sessions_[id];
}

namespace {

kernels::Half* halves(kernels::AlignedBuffer& b) { return reinterpret_cast<kernels::Half*>(b.get()); }

}  // namespace

kernels::Half* KvPool::cross_keys(WindowSlot& w, int layer, int head) const {
  return halves(w.data) + (static_cast<size_t>(layer) * dims_.n_head + head) * cross_head_halves(dims_);
}

kernels::Half* KvPool::cross_values(WindowSlot& w, int layer, int head) const {
  return cross_keys(w, layer, head) + round_line(kernels::key_panels_size(dims_.n_audio_ctx, dims_.head_dim()));
}

kernels::Half* KvPool::encoder_keys(WindowSlot& w, int layer, int head) const {
  if (!w.streaming) throw std::logic_error("encoder K/V asked of a window that is not streaming");
  return halves(w.encoder_kv) + (static_cast<size_t>(layer) * dims_.n_head + head) * cross_head_halves(dims_);
}

kernels::Half* KvPool::encoder_values(WindowSlot& w, int layer, int head) const {
  return encoder_keys(w, layer, head) + round_line(kernels::key_panels_size(dims_.n_audio_ctx, dims_.head_dim()));
}

kernels::Half* KvPool::self_keys(SessionSlot& s, int layer, int head) const {
  return halves(s.keys) + (static_cast<size_t>(layer) * dims_.n_head + head) * self_head_halves(dims_);
}

kernels::Half* KvPool::self_values(SessionSlot& s, int layer, int head) const {
  return halves(s.values) + (static_cast<size_t>(layer) * dims_.n_head + head) * self_head_halves(dims_);
}

}  // namespace chorus
