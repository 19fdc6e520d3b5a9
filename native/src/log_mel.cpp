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

// Real DFT with the periodic Hann window folded in: column b is cos, column kBins + b is sin.
std::vector<float> windowed_dft() {
  const int n = LogMel::kFft, bins = LogMel::kBins;
  std::vector<float> basis(static_cast<size_t>(n) * 2 * bins);
  for (int t = 0; t < n; ++t) {
    const double window = 0.5 - 0.5 * std::cos(2.0 * M_PI * t / n);
    for (int b = 0; b < bins; ++b) {
      // Reduce t * b modulo n first so the angle stays exact for large products.
      const double angle = 2.0 * M_PI * static_cast<double>((static_cast<long>(t) * b) % n) / n;
      basis[static_cast<size_t>(t) * 2 * bins + b] = static_cast<float>(window * std::cos(angle));
      basis[static_cast<size_t>(t) * 2 * bins + bins + b] = static_cast<float>(-window * std::sin(angle));
    }
  }
  return basis;
}

}  // namespace

LogMel::LogMel(int n_mels) : n_mels_(n_mels) {
  const auto dft = windowed_dft();
  dft_ = kernels::pack_kn(dft.data(), kFft, 2 * kBins, 2 * kBins);
  const auto filters = mel_filters(n_mels);
  filters_ = kernels::pack_kn(filters.data(), kBins, n_mels, n_mels);
}

void LogMel::compute(const float* pcm, int n, std::vector<float>& out, kernels::ThreadPool* pool) {
  const int frames = frames_for(n);
  out.assign(static_cast<size_t>(n_mels_) * frames, 0.0f);
  if (frames == 0) return;
  // Centred frames with reflection at both ends, as torch.stft(center=True) does.
  constexpr int kPad = kFft / 2;
  auto sample = [&](long i) -> float {
    if (n == 1) return pcm[0];
    while (i < 0 || i >= n) i = i < 0 ? -i : 2L * (n - 1) - i;
    return pcm[i];
  };
  frames_.resize(static_cast<size_t>(frames) * kFft);
  for (int f = 0; f < frames; ++f) {
    const long start = static_cast<long>(f) * kHop - kPad;
    float* row = frames_.data() + static_cast<size_t>(f) * kFft;
    if (start >= 0 && start + kFft <= n) {
      std::copy(pcm + start, pcm + start + kFft, row);
    } else {
      for (int t = 0; t < kFft; ++t) row[t] = sample(start + t);
    }
  }
  spectrum_.resize(static_cast<size_t>(frames) * 2 * kBins);
  kernels::gemm(frames, frames_.data(), kFft, dft_, spectrum_.data(), 2 * kBins, nullptr, false, pool);
  power_.resize(static_cast<size_t>(frames) * kBins);
  for (int f = 0; f < frames; ++f) {
    const float* s = spectrum_.data() + static_cast<size_t>(f) * 2 * kBins;
    float* p = power_.data() + static_cast<size_t>(f) * kBins;
    for (int b = 0; b < kBins; ++b) p[b] = s[b] * s[b] + s[kBins + b] * s[kBins + b];
  }
  mel_.resize(static_cast<size_t>(frames) * n_mels_);
  kernels::gemm(frames, power_.data(), kBins, filters_, mel_.data(), n_mels_, nullptr, false, pool);
  for (int f = 0; f < frames; ++f) {
    for (int m = 0; m < n_mels_; ++m) {
      const float v = mel_[static_cast<size_t>(f) * n_mels_ + m];
      out[static_cast<size_t>(m) * frames + f] = std::log10(std::max(v, 1e-10f));
    }
  }
}

}  // namespace chorus
