// Throughput loops: enough independent accumulator chains to cover each instruction's latency
// on every current core (10 chains x 4-5 cycles x 2 pipes), no loads, results kept live so
// the compiler cannot drop them. Instruction sets come from target attributes, so this file
// builds without any -m flag and each loop runs only where the CPU reports its set.
#include "peak.h"

#include <chrono>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#endif

namespace chorus::bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kChains = 10;
constexpr long kIters = 20'000'000;

volatile float g_sink_f;
volatile int32_t g_sink_i;

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) void fma_ymm(long iters) {
  __m256 acc[kChains];
  for (int j = 0; j < kChains; ++j) acc[j] = _mm256_set1_ps(0.001f * j);
  const __m256 x = _mm256_set1_ps(0.9999f), y = _mm256_set1_ps(1e-7f);
  for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < kChains; ++j) acc[j] = _mm256_fmadd_ps(acc[j], x, y);
  }
  __m256 s = acc[0];
  for (int j = 1; j < kChains; ++j) s = _mm256_add_ps(s, acc[j]);
  g_sink_f = _mm256_cvtss_f32(s);
}

__attribute__((target("avx512f,fma"))) void fma_zmm(long iters) {
  __m512 acc[kChains];
  for (int j = 0; j < kChains; ++j) acc[j] = _mm512_set1_ps(0.001f * j);
  const __m512 x = _mm512_set1_ps(0.9999f), y = _mm512_set1_ps(1e-7f);
  for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < kChains; ++j) acc[j] = _mm512_fmadd_ps(acc[j], x, y);
  }
  __m512 s = acc[0];
  for (int j = 1; j < kChains; ++j) s = _mm512_add_ps(s, acc[j]);
  g_sink_f = _mm512_reduce_add_ps(s);
}

__attribute__((target("avx512f,avx512bf16"))) void bf16_dot_zmm(long iters) {
  __m512 acc[kChains];
  for (int j = 0; j < kChains; ++j) acc[j] = _mm512_set1_ps(0.001f * j);
  const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3F80), y = (__m512bh)_mm512_set1_epi16(0x3380);
  for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < kChains; ++j) acc[j] = _mm512_dpbf16_ps(acc[j], x, y);
  }
  __m512 s = acc[0];
  for (int j = 1; j < kChains; ++j) s = _mm512_add_ps(s, acc[j]);
  g_sink_f = _mm512_reduce_add_ps(s);
}

// The AVX2 int8 kernel's inner step (kernels/src/lowp_avx2.cpp): 32 byte products per
// vpmaddubsw, their pairs summed into int32 by vpmaddwd against ones, then added. Each chain
// feeds its sum back as the next signed operand, so nothing is loop-invariant; the values
// wrap, which costs the same.
__attribute__((target("avx2"))) void int8_madd_ymm(long iters) {
  __m256i acc[kChains];
  for (int j = 0; j < kChains; ++j) acc[j] = _mm256_set1_epi8(static_cast<char>(j - 5));
  const __m256i u = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
  for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < kChains; ++j) {
      acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(_mm256_maddubs_epi16(u, acc[j]), ones));
    }
  }
  __m256i t = acc[0];
  for (int j = 1; j < kChains; ++j) t = _mm256_add_epi32(t, acc[j]);
  g_sink_i = _mm256_extract_epi32(t, 0);
}

__attribute__((target("avx512f,avx512vnni"))) void int8_dot_zmm(long iters) {
  __m512i acc[kChains];
  for (int j = 0; j < kChains; ++j) acc[j] = _mm512_set1_epi32(j);
  const __m512i u = _mm512_set1_epi8(3), s = _mm512_set1_epi8(-2);
  for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < kChains; ++j) acc[j] = _mm512_dpbusd_epi32(acc[j], u, s);
  }
  __m512i t = acc[0];
  for (int j = 1; j < kChains; ++j) t = _mm512_add_epi32(t, acc[j]);
  g_sink_i = _mm512_reduce_add_epi32(t);
}
#endif

#if defined(__aarch64__)
void fma_neon(long iters) {
  float32x4_t acc[kChains];
  for (int j = 0; j < kChains; ++j) acc[j] = vdupq_n_f32(0.001f * j);
  const float32x4_t x = vdupq_n_f32(0.9999f), y = vdupq_n_f32(1e-7f);
  for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < kChains; ++j) acc[j] = vfmaq_f32(y, acc[j], x);
  }
  float32x4_t s = acc[0];
  for (int j = 1; j < kChains; ++j) s = vaddq_f32(s, acc[j]);
  g_sink_f = vaddvq_f32(s);
}
#endif

// Ops per second of loop(iters) run on every thread at once; ops_per_iter counts 2 per
// multiply-add, summed over the chains.
double throughput(kernels::ThreadPool& pool, void (*loop)(long), double ops_per_iter) {
  const int threads = pool.size();
  pool.parallel_for(threads, [&](int) { loop(kIters / 20); });  // clocks up, pages in
  double best = 0.0;
  for (int round = 0; round < 3; ++round) {
    const auto t0 = Clock::now();
    pool.parallel_for(threads, [&](int) { loop(kIters); });
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    const double rate = ops_per_iter * static_cast<double>(kIters) * threads / dt;
    best = rate > best ? rate : best;
  }
  return best;
}

// One thread's part of the bandwidth pass: the widest loads the CPU has, four independent
// chains, as the weight kernels stream B.
#if defined(__x86_64__)
__attribute__((target("avx2"))) uint64_t read_words_avx2(const uint64_t* p, size_t words) {
  __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
  for (size_t i = 0; i + 16 <= words; i += 16) {
    s0 = _mm256_add_epi64(s0, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
    s1 = _mm256_add_epi64(s1, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 4)));
    s2 = _mm256_add_epi64(s2, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 8)));
    s3 = _mm256_add_epi64(s3, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 12)));
  }
  const __m256i s = _mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3));
  return static_cast<uint64_t>(_mm256_extract_epi64(s, 0));
}
#endif

uint64_t read_words(const uint64_t* p, size_t words) {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2")) return read_words_avx2(p, words);
#endif
#if defined(__aarch64__)
  uint64x2_t s0 = vdupq_n_u64(0), s1 = s0, s2 = s0, s3 = s0;
  for (size_t i = 0; i + 8 <= words; i += 8) {
    s0 = vaddq_u64(s0, vld1q_u64(p + i));
    s1 = vaddq_u64(s1, vld1q_u64(p + i + 2));
    s2 = vaddq_u64(s2, vld1q_u64(p + i + 4));
    s3 = vaddq_u64(s3, vld1q_u64(p + i + 6));
  }
  return vgetq_lane_u64(vaddq_u64(vaddq_u64(s0, s1), vaddq_u64(s2, s3)), 0);
#else
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (size_t i = 0; i + 4 <= words; i += 4) {
    s0 += p[i];
    s1 += p[i + 1];
    s2 += p[i + 2];
    s3 += p[i + 3];
  }
  return s0 + s1 + s2 + s3;
#endif
}

// Bytes per second read from a buffer far larger than any current last-level cache, each
// thread its own contiguous part.
double read_bandwidth(kernels::ThreadPool& pool) {
  const size_t bytes = size_t{512} << 20;
  kernels::AlignedArray<uint64_t> buffer(static_cast<uint64_t*>(kernels::aligned_alloc_bytes(bytes)));
  const size_t words = bytes / sizeof(uint64_t);
  std::memset(buffer.get(), 1, bytes);
  const int threads = pool.size();
  const size_t per_thread = words / threads / 16 * 16;
  auto pass = [&] {
    pool.parallel_for(threads, [&](int t) {
      g_sink_i = static_cast<int32_t>(read_words(buffer.get() + per_thread * t, per_thread));
    });
  };
  pass();
  double best = 0.0;
  for (int round = 0; round < 5; ++round) {
    const auto t0 = Clock::now();
    pass();
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    const double rate = static_cast<double>(per_thread * threads * sizeof(uint64_t)) / dt;
    best = rate > best ? rate : best;
  }
  return best;
}

}  // namespace

std::vector<Peak> measure_peaks(kernels::ThreadPool& pool) {
  std::vector<Peak> peaks;
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    peaks.push_back({PeakKind::Fp32FmaYmm, "fp32 FMA, ymm", throughput(pool, fma_ymm, kChains * 8 * 2)});
    peaks.push_back({PeakKind::Int8MaddYmm, "int8 vpmaddubsw+vpmaddwd, ymm", throughput(pool, int8_madd_ymm, kChains * 32 * 2)});
  }
  if (__builtin_cpu_supports("avx512f")) {
    peaks.push_back({PeakKind::Fp32FmaZmm, "fp32 FMA, zmm", throughput(pool, fma_zmm, kChains * 16 * 2)});
  }
  if (__builtin_cpu_supports("avx512vnni")) {
    peaks.push_back({PeakKind::Int8DotZmm, "int8 vpdpbusd, zmm", throughput(pool, int8_dot_zmm, kChains * 64 * 2)});
  }
  if (__builtin_cpu_supports("avx512bf16")) {
    peaks.push_back({PeakKind::Bf16DotZmm, "bf16 vdpbf16ps, zmm", throughput(pool, bf16_dot_zmm, kChains * 32 * 2)});
  }
#endif
#if defined(__aarch64__)
  peaks.push_back({PeakKind::Fp32FmaNeon, "fp32 fmla, 128-bit", throughput(pool, fma_neon, kChains * 4 * 2)});
#endif
  peaks.push_back({PeakKind::MemoryRead, "memory read", read_bandwidth(pool)});
  return peaks;
}

}  // namespace chorus::bench
