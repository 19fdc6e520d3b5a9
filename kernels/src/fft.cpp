// Real FFT plans, the portable variant and the public entry points.
#include <cmath>
#include <stdexcept>
#include <string>

#include "fft_impl.h"
#include "vec_scalar.h"

namespace chorus::kernels {
namespace detail {

const FftKernel kFftScalar = {&stft_impl<V1>};

}  // namespace detail

FftPlan make_fft_plan(int n) {
  if (n < 2 || n % 2 != 0) throw std::invalid_argument("fft: size must be even and >= 2, got " + std::to_string(n));
  FftPlan plan;
  plan.n = n;
  // Radix 4 first (fewest passes over the work buffer), then the small primes, then any
  // remaining prime through the generic stage.
  int rest = n / 2;
  for (int r : {4, 2, 3, 5}) {
    while (rest % r == 0) {
      plan.radices.push_back(r);
      rest /= r;
    }
  }
  for (int p = 7; rest > 1; p += 2) {
    while (rest % p == 0) {
      plan.radices.push_back(p);
      rest /= p;
    }
  }
  // Angles in double, reduced to integer fractions of a turn before the division.
  int len = n / 2;
  for (int radix : plan.radices) {
    const int m = len / radix;
    for (int p = 0; p < m; ++p) {
      for (int k = 1; k < radix; ++k) {
        const double angle = 2.0 * M_PI * static_cast<double>((static_cast<long>(p) * k) % len) / len;
        plan.twiddles.push_back(static_cast<float>(std::cos(angle)));
        plan.twiddles.push_back(static_cast<float>(-std::sin(angle)));
      }
    }
    if (radix > 5) {
      for (int j = 0; j < radix; ++j) {
        const double angle = 2.0 * M_PI * j / radix;
        plan.roots.push_back(static_cast<float>(std::cos(angle)));
        plan.roots.push_back(static_cast<float>(-std::sin(angle)));
      }
    }
    len = m;
  }
  for (int k = 0; k <= n / 2; ++k) {
    const double angle = 2.0 * M_PI * k / n;
    plan.split.push_back(static_cast<float>(std::cos(angle)));
    plan.split.push_back(static_cast<float>(std::sin(angle)));
  }
  return plan;
}

namespace {

const detail::FftKernel& fft_kernel() {
#if defined(CHORUS_KERNELS_X86)
  const Isa isa = active_isa();
  if (isa >= Isa::Avx512) return detail::kFftAvx512;
  if (isa == Isa::Avx2) return detail::kFftAvx2;
#endif
#if defined(CHORUS_KERNELS_NEON)
  if (active_isa() == Isa::Neon) return detail::kFftNeon;
#endif
  return detail::kFftScalar;
}

void run_stft(const FftPlan& plan, const float* x, int hop, int frames, const float* window, float* re, float* im,
              int ld, ThreadPool* pool) {
  if (frames <= 0) return;
  const detail::FftKernel& k = fft_kernel();
  // 64 frames a task: a multiple of every variant's lane count, and enough tasks for a
  // 30 s window (3000 frames) to balance across threads.
  constexpr int kChunk = 64;
  const int tasks = (frames + kChunk - 1) / kChunk;
  auto task = [&](int i) {
    const int f0 = i * kChunk, count = std::min(kChunk, frames - f0);
    k.stft(plan, x + static_cast<size_t>(f0) * hop, hop, count, window, re + f0, im ? im + f0 : nullptr, ld);
  };
  if (pool && tasks > 1) {
    pool->parallel_for(tasks, [&](int i) { task(i); });
  } else {
    for (int i = 0; i < tasks; ++i) task(i);
  }
}

}  // namespace

void stft(const FftPlan& plan, const float* x, int hop, int frames, const float* window, float* re, float* im, int ld,
          ThreadPool* pool) {
  run_stft(plan, x, hop, frames, window, re, im, ld, pool);
}

void stft_power(const FftPlan& plan, const float* x, int hop, int frames, const float* window, float* power, int ld,
                ThreadPool* pool) {
  run_stft(plan, x, hop, frames, window, power, nullptr, ld, pool);
}

}  // namespace chorus::kernels
