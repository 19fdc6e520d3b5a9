// The im2col matrix of Whisper's convolution stem. Pure data movement, so one portable
// version: the product that follows (gemm) is where the time goes.
#include <algorithm>
#include <stdexcept>
#include <string>

#include "chorus/kernels.h"

namespace chorus::kernels {

void conv1d_k3_cols(const Conv1dInput& x, int stride, int f0, int f1, float* cols, int ldc) {
  if (f0 >= f1) return;
  // Taps only move forward with f, so the first row's lowest real frame is the lowest of all.
  const int lowest = std::max(0, stride * f0 - 1);
  if (lowest < x.first && lowest < x.frames) {
    throw std::invalid_argument("conv1d_k3_cols: output frame " + std::to_string(f0) + " reads frame " +
                                std::to_string(lowest) + ", before the first one stored (" + std::to_string(x.first) + ")");
  }
  for (int f = f0; f < f1; ++f) {
    float* row = cols + static_cast<size_t>(f - f0) * ldc;
    const int t0 = stride * f - 1;
    if (t0 >= 0 && t0 + 2 < x.frames) {
      // Away from the edges: the three taps of a channel side by side, so the row is written
      // in order whatever the input's layout.
      const float* in = x.data + (t0 - x.first) * x.frame_stride;
      for (int c = 0; c < x.channels; ++c) {
        const float* p = in + c * x.channel_stride;
        row[c * 3] = p[0];
        row[c * 3 + 1] = p[x.frame_stride];
        row[c * 3 + 2] = p[2 * x.frame_stride];
      }
      continue;
    }
    for (int tap = 0; tap < 3; ++tap) {
      const int t = t0 + tap;
      if (t < 0 || t >= x.frames) {
        for (int c = 0; c < x.channels; ++c) row[c * 3 + tap] = 0.0f;
        continue;
      }
      const float* in = x.data + (t - x.first) * x.frame_stride;
      for (int c = 0; c < x.channels; ++c) row[c * 3 + tap] = in[c * x.channel_stride];
    }
  }
}

}  // namespace chorus::kernels
