// Whisper's log-mel front end: 25 ms Hann windows every 10 ms (n_fft 400, hop 160 at
// 16 kHz), power spectrum, Slaney mel filter bank, log10. Normalisation (clamp to max - 8,
// then (x + 4) / 4) is left to the caller, because streaming and offline choose the max over
// different spans.
#pragma once

#include <vector>

#include "chorus/kernels.h"

namespace chorus {

class LogMel {
 public:
  static constexpr int kSampleRate = 16000;
  static constexpr int kFft = 400;
  static constexpr int kHop = 160;
  static constexpr int kBins = kFft / 2 + 1;

  explicit LogMel(int n_mels);
  int n_mels() const { return n_mels_; }
  // Frames produced for a signal of n samples (centred frames, the last one dropped as Whisper does).
  static int frames_for(int n) { return n / kHop; }
  // Writes log10(max(mel power, 1e-10)) as [n_mels][frames] into out.
  void compute(const float* pcm, int n, std::vector<float>& out, kernels::ThreadPool* pool);

 private:
  int n_mels_;
  kernels::FftPlan fft_;
  std::vector<float> window_;  // periodic Hann, kFft values
  // Each triangular filter as its non-zero span of bins: [first_[m], first_[m] + weights).
  std::vector<int> first_, count_;
  std::vector<size_t> offset_;
  std::vector<float> weights_;
  std::vector<float> padded_, power_;
};

}  // namespace chorus
