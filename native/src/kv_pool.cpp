#include "kv_pool.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace chorus {

namespace {

// One head's packed cross-attention keys or values, in the larger of the two packings.
size_t head_floats(const WhisperDims& dims) {
  const int hd = dims.head_dim();
  return std::max(kernels::packed_size(dims.n_audio_ctx, hd), kernels::packed_size(hd, dims.n_audio_ctx));
}

size_t window_floats(const WhisperDims& dims) {
  return static_cast<size_t>(dims.n_text_layer) * dims.n_head * 2 * head_floats(dims);
}

size_t session_floats(const WhisperDims& dims) {
  return static_cast<size_t>(dims.n_text_layer) * dims.n_text_ctx * dims.n_state;
}

}  // namespace

size_t kv_window_bytes(const WhisperDims& dims) { return window_floats(dims) * sizeof(float); }
size_t kv_session_bytes(const WhisperDims& dims) { return 2 * session_floats(dims) * sizeof(float); }

KvCapacity kv_capacity_for_budget(const WhisperDims& dims, size_t budget_bytes, KvCapacity per_stream) {
  const int windows = std::max(1, per_stream.windows);
  const int sessions = std::max(1, per_stream.sessions);
  const size_t stream_bytes = windows * kv_window_bytes(dims) + sessions * kv_session_bytes(dims);
  const int streams = static_cast<int>(std::min<size_t>(budget_bytes / stream_bytes, 1 << 16));
  return {streams * windows, streams * sessions};
}

KvPool::KvPool(const WhisperDims& dims, KvCapacity capacity)
    : dims_(dims),
      window_floats_(window_floats(dims)),
      session_floats_(session_floats(dims)),
      windows_(std::max(0, capacity.windows)),
      sessions_(std::max(0, capacity.sessions)) {
  // Lowest ids first so that reuse keeps touching the same, already faulted-in memory.
  for (int i = capacity.windows - 1; i >= 0; --i) free_windows_.push_back(i);
  for (int i = capacity.sessions - 1; i >= 0; --i) free_sessions_.push_back(i);
}

int KvPool::acquire_window() {
  if (free_windows_.empty()) return -1;
  const int id = free_windows_.back();
  free_windows_.pop_back();
  auto& w = windows_[id];
  if (!w.data) w.data = kernels::aligned_alloc_floats(window_floats_);
  w.frames = 0;
  w.refs = 1;
  w.in_use = true;
  ++windows_in_use_;
  return id;
}

void KvPool::release_window(int id) {
  auto& w = window(id);
  if (--w.refs > 0) return;
  w.in_use = false;
  free_windows_.push_back(id);
  --windows_in_use_;
}

int KvPool::acquire_session(int window_id) {
  auto& w = window(window_id);
  if (free_sessions_.empty()) return -1;
  const int id = free_sessions_.back();
  free_sessions_.pop_back();
  auto& s = sessions_[id];
  if (!s.keys) {
    s.keys = kernels::aligned_alloc_floats(session_floats_);
    s.values = kernels::aligned_alloc_floats(session_floats_);
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
  const size_t row = dims_.n_state;
  for (int l = 0; l < dims_.n_text_layer; ++l) {
    const size_t offset = static_cast<size_t>(l) * dims_.n_text_ctx * row;
    std::memcpy(dst.keys.get() + offset, src.keys.get() + offset, src.length * row * sizeof(float));
    std::memcpy(dst.values.get() + offset, src.values.get() + offset, src.length * row * sizeof(float));
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

float* KvPool::cross_keys(WindowSlot& w, int layer, int head) const {
  return w.data.get() + ((static_cast<size_t>(layer) * dims_.n_head + head) * 2) * head_floats(dims_);
}

float* KvPool::cross_values(WindowSlot& w, int layer, int head) const {
  return w.data.get() + ((static_cast<size_t>(layer) * dims_.n_head + head) * 2 + 1) * head_floats(dims_);
}

float* KvPool::self_keys(SessionSlot& s, int layer) const {
  return s.keys.get() + static_cast<size_t>(layer) * dims_.n_text_ctx * dims_.n_state;
}

float* KvPool::self_values(SessionSlot& s, int layer) const {
  return s.values.get() + static_cast<size_t>(layer) * dims_.n_text_ctx * dims_.n_state;
}

}  // namespace chorus
