#include "log_mel.h"

#include <algorithm>
#include <cmath>

namespace chorus {
namespace {

// Slaney's mel scale (librosa's default, which Whisper's filters were built with).
double hz_to_mel(double hz) {
  constexpr double kMinLogHz = 1000.0, kMinLogMel = 15.0;
  const double log_step = std::log(6.4) / 27.0;
  return hz < kMinLogHz ? 3.0 * hz / 200.0 : kMinLogMel + std::log(hz / kMinLogHz) / log_step;
}

double mel_to_hz(double mel) {
  constexpr double kMinLogHz = 1000.0, kMinLogMel = 15.0;
  const double log_step = std::log(6.4) / 27.0;
  return mel < kMinLogMel ? 200.0 * mel / 3.0 : kMinLogHz * std::exp(log_step * (mel - kMinLogMel));
}

// Triangular filters with Slaney area normalisation, as [bins][n_mels].
std::vector<float> mel_filters(int n_mels) {
  const int bins = LogMel::kBins;
  std::vector<double> points(n_mels + 2);
  const double lo = hz_to_mel(0.0), hi = hz_to_mel(LogMel::kSampleRate / 2.0);
  for (int i = 0; i < n_mels + 2; ++i) points[i] = mel_to_hz(lo + (hi - lo) * i / (n_mels + 1));
  std::vector<float> w(static_cast<size_t>(bins) * n_mels, 0.0f);
  for (int m = 0; m < n_mels; ++m) {
    const double left = points[m], centre = points[m + 1], right = points[m + 2];
    const double norm = 2.0 / (right - left);
    for (int b = 0; b < bins; ++b) {
      const double f = static_cast<double>(b) * LogMel::kSampleRate / LogMel::kFft;
      const double rising = (f - left) / (centre - left);
      const double falling = (right - f) / (right - centre);
      const double v = std::max(0.0, std::min(rising, falling));
      w[static_cast<size_t>(b) * n_mels + m] = static_cast<float>(v * norm);
    }
  }
  return w;
}

}  // namespace

LogMel::LogMel(int n_mels) : n_mels_(n_mels), fft_(kernels::make_fft_plan(kFft)), window_(kFft) {
  for (int t = 0; t < kFft; ++t) window_[t] = static_cast<float>(0.5 - 0.5 * std::cos(2.0 * M_PI * t / kFft));
  // Each filter covers a few bins (at most about 30 of 201): storing only that span makes the
  // filter bank about 40 times cheaper than the dense product.
  const auto filters = mel_filters(n_mels);
  for (int m = 0; m < n_mels; ++m) {
    int lo = kBins, hi = 0;
    for (int b = 0; b < kBins; ++b) {
      if (filters[static_cast<size_t>(b) * n_mels + m] != 0.0f) {
        lo = std::min(lo, b);
        hi = b + 1;
      }
    }
    if (hi <= lo) lo = hi = 0;
    first_.push_back(lo);
    count_.push_back(hi - lo);
    offset_.push_back(weights_.size());
    for (int b = lo; b < hi; ++b) weights_.push_back(filters[static_cast<size_t>(b) * n_mels + m]);
  }
}

void LogMel::compute(const float* pcm, int n, std::vector<float>& out, kernels::ThreadPool* pool) {
  const int frames = frames_for(n);
  out.assign(static_cast<size_t>(n_mels_) * frames, 0.0f);
  if (frames == 0) return;
  // Centred frames with reflection at both ends, as torch.stft(center=True) does: the
  // padded signal holds every frame at hop kHop, so the FFT reads it in place.
  constexpr int kPad = kFft / 2;
  const size_t length = static_cast<size_t>(frames - 1) * kHop + kFft;
  padded_.resize(length);
  for (size_t j = 0; j < length; ++j) {
    long i = static_cast<long>(j) - kPad;
    if (i >= 0 && i < n) {
      padded_[j] = pcm[i];
      continue;
    }
    if (n == 1) {
      padded_[j] = pcm[0];
      continue;
    }
    while (i < 0 || i >= n) i = i < 0 ? -i : 2L * (n - 1) - i;
    padded_[j] = pcm[i];
  }
  // Power spectrum as [bin][frame]: a mel band is then a short sum of contiguous rows and
  // lands directly in the [n_mels][frames] output layout.
  power_.resize(static_cast<size_t>(kBins) * frames);
  kernels::stft_power(fft_, padded_.data(), kHop, frames, window_.data(), power_.data(), frames, pool);
  auto band = [&](int m) {
    float* row = out.data() + static_cast<size_t>(m) * frames;
    const float* w = weights_.data() + offset_[m];
    for (int j = 0; j < count_[m]; ++j) {
      const float* p = power_.data() + static_cast<size_t>(first_[m] + j) * frames;
      for (int f = 0; f < frames; ++f) row[f] += w[j] * p[f];
    }
    for (int f = 0; f < frames; ++f) row[f] = std::log10(std::max(row[f], 1e-10f));
  };
  if (pool) {
    pool->parallel_for(n_mels_, [&](int m) { band(m); });
  } else {
    for (int m = 0; m < n_mels_; ++m) band(m);
  }
}

}  // namespace chorus
