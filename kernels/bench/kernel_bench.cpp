// Kernel throughput per instruction-set variant, all measured in one process so the
// ratios compare like with like. Speedups are against the portable (scalar) variant.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "chorus/kernels.h"
#include "peak.h"

namespace ck = chorus::kernels;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<float> random_vec(size_t n) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// Best time per call in seconds: repeats until min_seconds have passed (at least 3 calls
// after one warm-up) and keeps the fastest, which is the least disturbed by other load.
template <class Fn>
double time_best(Fn&& fn, double min_seconds = 0.3) {
  fn();
  double best = 1e30, total = 0.0;
  for (int reps = 0; reps < 3 || total < min_seconds; ++reps) {
    const auto t0 = Clock::now();
    fn();
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    best = dt < best ? dt : best;
    total += dt;
  }
  return best;
}

std::vector<ck::Isa> available_isas() {
  std::vector<ck::Isa> out;
#if defined(__aarch64__)
  for (ck::Isa isa : {ck::Isa::Scalar, ck::Isa::Neon}) {
#else
  for (ck::Isa isa : {ck::Isa::Scalar, ck::Isa::Avx2, ck::Isa::Avx512, ck::Isa::Avx512Vnni, ck::Isa::Avx512Bf16,
                      ck::Isa::Amx}) {
#endif
    if (static_cast<int>(isa) <= static_cast<int>(ck::detect_isa())) out.push_back(isa);
  }
  return out;
}

struct Shape {
  int m, n, k;
};

void bench_gemm(ck::ThreadPool& pool1, ck::ThreadPool& pool2) {
  const Shape shapes[] = {{1500, 384, 384}, {1500, 1536, 384}, {1, 51864, 384}, {8, 1536, 384}, {32, 51864, 384}};
  const std::vector<ck::Isa> isas = available_isas();
  std::printf("gemm GFLOP/s (x speedup vs scalar variant, same thread count)\n");
  std::printf("%-20s %3s %10s", "m x n x k", "thr", "reference");
  for (ck::Isa isa : isas) std::printf(" %18s", ck::isa_name(isa));
  std::printf("\n");
  for (const Shape& s : shapes) {
    const std::vector<float> a = random_vec(static_cast<size_t>(s.m) * s.k);
    const std::vector<float> b = random_vec(static_cast<size_t>(s.n) * s.k);
    const std::vector<float> bias = random_vec(s.n);
    std::vector<float> c(static_cast<size_t>(s.m) * s.n);
    const ck::PackedMatrix packed = ck::pack_nk(b.data(), s.n, s.k, s.k);
    const double flops = 2.0 * s.m * s.n * s.k;
    for (ck::ThreadPool* pool : {&pool1, &pool2}) {
      char name[64];
      std::snprintf(name, sizeof name, "%dx%dx%d", s.m, s.n, s.k);
      std::printf("%-20s %3d", name, pool->size());
      if (pool->size() == 1) {
        const double t = time_best([&] {
          ck::reference::gemm_nk(s.m, a.data(), s.k, b.data(), s.k, s.n, s.k, c.data(), s.n, bias.data(), false);
        }, 0.0);
        std::printf(" %10.1f", flops / t * 1e-9);
      } else {
        std::printf(" %10s", "");
      }
      double scalar_gflops = 0.0;
      for (ck::Isa isa : isas) {
        ck::force_isa(isa);
        const double t = time_best([&] { ck::gemm(s.m, a.data(), s.k, packed, c.data(), s.n, bias.data(), false, pool); });
        const double gflops = flops / t * 1e-9;
        if (isa == ck::Isa::Scalar) scalar_gflops = gflops;
        std::printf(" %9.1f (x%5.1f)", gflops, gflops / scalar_gflops);
      }
      std::printf("\n");
    }
  }
  ck::force_isa(ck::detect_isa());
}

// Int8 and bf16 weights against fp32 at the Whisper shapes, 2 threads: GOP/s (2 ops per
// multiply-add) and the ratio to the fp32 gemm at the best instruction set. Each variant is
// the weight precision at a forced instruction-set level (see kernels/README.md).
void bench_lowp(ck::ThreadPool& pool) {
  struct Variant {
    const char* name;
    ck::Precision precision;
    ck::Isa isa;
  };
  const ck::Isa best = ck::detect_isa();
  std::vector<Variant> variants = {{"fp32", ck::Precision::Fp32, best}};
  // The x86 levels are ordered; neon (aarch64) has none of their weight kernels.
  const ck::Isa x86 = best == ck::Isa::Neon ? ck::Isa::Scalar : best;
  if (x86 >= ck::Isa::Amx) variants.push_back({"bf16-amx", ck::Precision::Bf16, ck::Isa::Amx});
  if (x86 >= ck::Isa::Avx512Bf16) variants.push_back({"bf16-dpbf16", ck::Precision::Bf16, ck::Isa::Avx512Bf16});
  if (x86 >= ck::Isa::Avx512) variants.push_back({"bf16-avx512", ck::Precision::Bf16, ck::Isa::Avx512});
  if (x86 >= ck::Isa::Amx) variants.push_back({"int8-amx", ck::Precision::Int8, ck::Isa::Amx});
  if (x86 >= ck::Isa::Avx512Vnni) variants.push_back({"int8-vnni", ck::Precision::Int8, ck::Isa::Avx512Vnni});
  if (x86 >= ck::Isa::Avx2) variants.push_back({"int8-avx2", ck::Precision::Int8, ck::Isa::Avx2});
  if (best == ck::Isa::Neon) {
    // int8 with or without sdot, as the CPU (or CHORUS_ISA=neon-nodotprod) decides.
    ck::force_isa(ck::Isa::Neon);
    variants.push_back({"bf16-neon", ck::Precision::Bf16, ck::Isa::Neon});
    variants.push_back({ck::weights_variant(ck::Precision::Int8, 1), ck::Precision::Int8, ck::Isa::Neon});
  }
  variants.push_back({"fp32-scalar", ck::Precision::Fp32, ck::Isa::Scalar});
  variants.push_back({"bf16-scalar", ck::Precision::Bf16, ck::Isa::Scalar});
  variants.push_back({"int8-scalar", ck::Precision::Int8, ck::Isa::Scalar});

  struct Nk {
    int n, k;
  };
  const Nk shapes[] = {{1152, 384}, {1536, 384}, {384, 1536}, {51864, 384}};
  const int ms[] = {1, 8, 32, 64, 1500};
  std::printf("\nweights fp32 / bf16 / int8, %d threads: GOP/s (x ratio to fp32)\n", pool.size());
  std::printf("%-18s", "m x n x k");
  for (const Variant& v : variants) std::printf(" %19s", v.name);
  std::printf("\n");
  for (const Nk& s : shapes) {
    const std::vector<float> b = random_vec(static_cast<size_t>(s.n) * s.k);
    const std::vector<float> bias = random_vec(s.n);
    std::vector<ck::Weights> weights;
    for (const Variant& v : variants) weights.push_back(ck::make_weights(b.data(), s.n, s.k, s.k, v.precision));
    for (int m : ms) {
      // The vocabulary product only ever runs for decoder steps.
      if (s.n > 10000 && m > 64) continue;
      const std::vector<float> a = random_vec(static_cast<size_t>(m) * s.k);
      std::vector<float> c(static_cast<size_t>(m) * s.n);
      const double ops = 2.0 * m * s.n * s.k;
      char name[64];
      std::snprintf(name, sizeof name, "%dx%dx%d", m, s.n, s.k);
      std::printf("%-18s", name);
      double fp32 = 0.0;
      for (size_t i = 0; i < variants.size(); ++i) {
        ck::force_isa(variants[i].isa);
        const double scalar_budget = variants[i].isa == ck::Isa::Scalar ? 0.0 : 0.3;
        const double t = time_best([&] { ck::gemm(m, a.data(), s.k, weights[i], c.data(), s.n, bias.data(), false, &pool); },
                                   scalar_budget);
        const double gops = ops / t * 1e-9;
        if (i == 0) fp32 = gops;
        std::printf(" %9.1f (x%5.2f)", gops, gops / fp32);
      }
      std::printf("\n");
    }
  }
  ck::force_isa(ck::detect_isa());
}

// AMX against the AVX-512 variants it replaces, at Whisper tiny.en's shapes, 2 threads: ms per
// product and the speedup. The two sides alternate in rounds (best call of each kept), so
// load from other processes falls on both. int8 at Isa::Amx is what dispatch runs, i.e. VNNI
// below kQ8AmxMinRows rows (src/lowp.cpp).
void bench_amx(ck::ThreadPool& pool) {
  if (ck::detect_isa() != ck::Isa::Amx) {
    std::printf("\nAMX not available (detected isa %s)\n", ck::isa_name(ck::detect_isa()));
    return;
  }
  struct Nk {
    int n, k;
  };
  const Nk shapes[] = {{384, 384}, {1536, 384}, {384, 1536}, {51864, 384}};
  const int ms[] = {1, 8, 32, 64, 1500};
  struct Side {
    ck::Precision precision;
    ck::Isa isa;
  };
  const Side sides[4] = {{ck::Precision::Bf16, ck::Isa::Avx512Bf16},
                         {ck::Precision::Bf16, ck::Isa::Amx},
                         {ck::Precision::Int8, ck::Isa::Avx512Vnni},
                         {ck::Precision::Int8, ck::Isa::Amx}};
  std::printf("\nAMX vs AVX-512, %d threads: ms per product (x AMX speedup)\n", pool.size());
  std::printf("%-18s %12s %12s %8s %12s %12s %8s\n", "m x n x k", "bf16-dpbf16", "bf16-amx", "speedup", "int8-vnni",
              "int8-amx", "speedup");
  for (const Nk& s : shapes) {
    const std::vector<float> b = random_vec(static_cast<size_t>(s.n) * s.k);
    const std::vector<float> bias = random_vec(s.n);
    const ck::Weights bf16 = ck::make_weights(b.data(), s.n, s.k, s.k, ck::Precision::Bf16);
    const ck::Weights int8 = ck::make_weights(b.data(), s.n, s.k, s.k, ck::Precision::Int8);
    for (int m : ms) {
      if (s.n > 10000 && m > 64) continue;
      const std::vector<float> a = random_vec(static_cast<size_t>(m) * s.k);
      std::vector<float> c(static_cast<size_t>(m) * s.n);
      double t[4] = {1e30, 1e30, 1e30, 1e30};
      for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < 4; ++i) {
          ck::force_isa(sides[i].isa);
          const ck::Weights& w = sides[i].precision == ck::Precision::Bf16 ? bf16 : int8;
          t[i] = std::min(t[i], time_best([&] { ck::gemm(m, a.data(), s.k, w, c.data(), s.n, bias.data(), false, &pool); }, 0.1));
        }
      }
      char name[64];
      std::snprintf(name, sizeof name, "%dx%dx%d", m, s.n, s.k);
      std::printf("%-18s %12.4f %12.4f %7.2fx %12.4f %12.4f %7.2fx\n", name, t[0] * 1e3, t[1] * 1e3, t[0] / t[1],
                  t[2] * 1e3, t[3] * 1e3, t[2] / t[3]);
    }
  }
  ck::force_isa(ck::detect_isa());
}

void bench_ops() {
  const int rows = 1500, dim = 384, cols = 1500;
  const std::vector<float> x = random_vec(static_cast<size_t>(rows) * dim);
  const std::vector<float> gamma = random_vec(dim), beta = random_vec(dim);
  std::vector<float> out(x.size());
  const std::vector<float> logits = random_vec(static_cast<size_t>(rows) * cols);
  std::vector<float> work(logits.size());
  const std::vector<float> act = random_vec(static_cast<size_t>(rows) * 1536);
  std::vector<float> act_work(act.size());

  std::printf("\nelement-wise, 1 thread, M elements/s\n");
  std::printf("%-10s %28s %28s %28s\n", "isa", "layer_norm 1500x384", "softmax 1500x1500", "gelu 1500x1536");
  for (ck::Isa isa : available_isas()) {
    ck::force_isa(isa);
    const double t_ln = time_best([&] { ck::layer_norm(x.data(), out.data(), rows, dim, gamma.data(), beta.data(), 1e-5f); });
    // Copies are timed too (restoring the input each call); they are a small part.
    const double t_sm = time_best([&] {
      work = logits;
      ck::softmax_rows(work.data(), rows, cols, cols);
    });
    const double t_ge = time_best([&] {
      act_work = act;
      ck::gelu(act_work.data(), act_work.size());
    });
    std::printf("%-10s %28.1f %28.1f %28.1f\n", ck::isa_name(isa), x.size() / t_ln * 1e-6,
                logits.size() / t_sm * 1e-6, act.size() / t_ge * 1e-6);
  }
  ck::force_isa(ck::detect_isa());
}


// Log-mel front end for 30 s of audio: the previous GEMM against a windowed DFT basis
// (frames copied into a matrix, 3000 x 400 x 402 product, then the power) vs the real FFT.
void bench_stft(ck::ThreadPool& pool1, ck::ThreadPool& pool2) {
  const int n = 400, hop = 160, frames = 3000, bins = n / 2 + 1;
  const std::vector<float> signal = random_vec(static_cast<size_t>(frames - 1) * hop + n);
  std::vector<float> window(n), basis(static_cast<size_t>(n) * 2 * bins);
  for (int t = 0; t < n; ++t) {
    window[t] = static_cast<float>(0.5 - 0.5 * std::cos(2.0 * M_PI * t / n));
    for (int b = 0; b < bins; ++b) {
      const double angle = 2.0 * M_PI * static_cast<double>((static_cast<long>(t) * b) % n) / n;
      basis[static_cast<size_t>(t) * 2 * bins + b] = static_cast<float>(window[t] * std::cos(angle));
      basis[static_cast<size_t>(t) * 2 * bins + bins + b] = static_cast<float>(-window[t] * std::sin(angle));
    }
  }
  const ck::PackedMatrix dft = ck::pack_kn(basis.data(), n, 2 * bins, 2 * bins);
  const ck::FftPlan plan = ck::make_fft_plan(n);
  std::vector<float> framed(static_cast<size_t>(frames) * n), spectrum(static_cast<size_t>(frames) * 2 * bins);
  std::vector<float> power(static_cast<size_t>(frames) * bins);
  std::printf("\nstft power, 3000 frames of 400 at hop 160 (30 s at 16 kHz), ms\n");
  std::printf("%-10s %3s %14s %14s %9s\n", "isa", "thr", "gemm-dft", "fft", "speedup");
  for (ck::Isa isa : available_isas()) {
    ck::force_isa(isa);
    for (ck::ThreadPool* pool : {&pool1, &pool2}) {
      const double t_gemm = time_best([&] {
        for (int f = 0; f < frames; ++f) std::copy(signal.begin() + static_cast<size_t>(f) * hop, signal.begin() + static_cast<size_t>(f) * hop + n, framed.begin() + static_cast<size_t>(f) * n);
        ck::gemm(frames, framed.data(), n, dft, spectrum.data(), 2 * bins, nullptr, false, pool);
        for (int f = 0; f < frames; ++f) {
          const float* s = spectrum.data() + static_cast<size_t>(f) * 2 * bins;
          for (int b = 0; b < bins; ++b) power[static_cast<size_t>(f) * bins + b] = s[b] * s[b] + s[bins + b] * s[bins + b];
        }
      });
      const double t_fft = time_best([&] { ck::stft_power(plan, signal.data(), hop, frames, window.data(), power.data(), frames, pool); });
      std::printf("%-10s %3d %14.3f %14.3f %8.1fx\n", ck::isa_name(isa), pool->size(), t_gemm * 1e3, t_fft * 1e3, t_gemm / t_fft);
    }
  }
  ck::force_isa(ck::detect_isa());
}

// Cross-attention of one decoder step: `items` sessions x 24 (layer, head) pairs, each one
// query row against its own 1500 keys and values, so that at batch 32 the K/V (295 MB in
// fp16, 590 MB in fp32) stream from DRAM as they do in the engine. The fp32 path is the
// previous one: gemm against packed K, softmax, gemm against packed V.
void bench_attention(ck::ThreadPool& pool2) {
  const int t = 1500, hd = 64, heads = 24;
  std::printf("\ndecoder cross-attention step, 1 query x %d keys x %d dims, %d heads per item, 2 threads, ms\n", t, hd, heads);
  std::printf("%-10s %6s %14s %14s %9s\n", "isa", "items", "fp32 gemms", "fp16 fused", "speedup");
  for (int items : {1, 8, 32}) {
    const int tasks = items * heads;
    const size_t k32 = ck::packed_size(t, hd), v32 = ck::packed_size(hd, t), k16 = ck::key_panels_size(t, hd);
    std::vector<float> f32(static_cast<size_t>(tasks) * (k32 + v32));
    std::vector<ck::Half> f16(static_cast<size_t>(tasks) * (k16 + static_cast<size_t>(t) * hd));
    const std::vector<float> rows = random_vec(static_cast<size_t>(t) * hd);
    for (int i = 0; i < tasks; ++i) {
      float* k = f32.data() + static_cast<size_t>(i) * (k32 + v32);
      ck::pack_nk_into(rows.data(), t, hd, hd, k);
      ck::pack_kn_into(rows.data(), t, hd, hd, k + k32);
      ck::Half* h = f16.data() + static_cast<size_t>(i) * (k16 + static_cast<size_t>(t) * hd);
      ck::pack_keys_f16(rows.data(), hd, t, hd, h, 0);
      ck::to_f16(rows.data(), hd, t, hd, h + k16, hd);
    }
    const std::vector<float> q = random_vec(static_cast<size_t>(tasks) * hd);
    std::vector<float> out(static_cast<size_t>(tasks) * hd), scratch(static_cast<size_t>(tasks) * ck::attention_scratch_size(1, t, hd));
    for (ck::Isa isa : available_isas()) {
      ck::force_isa(isa);
      const double t32 = time_best([&] {
        pool2.parallel_for(tasks, [&](int i) {
          const float* k = f32.data() + static_cast<size_t>(i) * (k32 + v32);
          float* s = scratch.data() + static_cast<size_t>(i) * ck::attention_scratch_size(1, t, hd);
          ck::gemm(1, q.data() + i * hd, hd, k, t, hd, s, t, nullptr, false, nullptr);
          ck::softmax_rows(s, 1, t, t);
          ck::gemm(1, s, t, k + k32, hd, t, out.data() + i * hd, hd, nullptr, false, nullptr);
        });
      });
      const double t16 = time_best([&] {
        pool2.parallel_for(tasks, [&](int i) {
          ck::AttentionF16 a;
          a.n = 1;
          a.q = q.data() + i * hd;
          a.ldq = hd;
          a.k = f16.data() + static_cast<size_t>(i) * (k16 + static_cast<size_t>(t) * hd);
          a.v = a.k + k16;
          a.ldv = hd;
          a.t = t;
          a.head_dim = hd;
          a.scale = 0.125f;
          a.out = out.data() + i * hd;
          a.ldo = hd;
          a.scratch = scratch.data() + static_cast<size_t>(i) * ck::attention_scratch_size(1, t, hd);
          ck::attention_f16(a);
        });
      });
      std::printf("%-10s %6d %14.3f %14.3f %8.2fx\n", ck::isa_name(isa), items, t32 * 1e3, t16 * 1e3, t32 / t16);
    }
  }
  ck::force_isa(ck::detect_isa());
}

// Encoder self-attention of one layer (6 heads of 64 dims), n queries over t keys, three ways,
// each storing K and V as the engine does: fp32 products over K and V packed whole (a whole
// window's path before the bf16 tile products), fp16 panels through attention_f16 (a
// streaming window's cache before: the n new frames written, the rest cached), and bf16
// panels through the bf16 weight kernels (a bf16 encoder's path now: likewise the n new
// frames written into the cache). Shapes: a live hop (75 new frames over a 10 s window), a
// window restart, a padded 30 s window.
void bench_encoder_attention(ck::ThreadPool& pool2) {
  const int hd = 64, heads = 6;
  std::printf("\nencoder self-attention, one layer (%d heads x %d dims), 2 threads, ms\n", heads, hd);
  std::printf("%-10s %11s %12s %12s %12s %9s %9s\n", "isa", "n x t", "fp32 gemms", "fp16 fused", "bf16 tiles", "vs fp32", "vs fp16");
  const Shape shapes[] = {{75, 500, 0}, {500, 500, 0}, {1500, 1500, 0}};
  for (const Shape& shape : shapes) {
    const int n = shape.m, t = shape.n;
    // Keys and values as the rows of a qkv product ([t][3 * 384]); the queries are the last n.
    const int ld = 3 * heads * hd;
    const std::vector<float> qkv = random_vec(static_cast<size_t>(t) * ld);
    const float* q = qkv.data() + static_cast<size_t>(t - n) * ld;
    std::vector<float> out(static_cast<size_t>(n) * heads * hd);
    std::vector<float> scores(static_cast<size_t>(heads) * n * t);
    std::vector<float> packed(static_cast<size_t>(heads) * (ck::packed_size(t, hd) + ck::packed_size(hd, t)));
    const size_t k16 = ck::key_panels_size(t, hd);
    std::vector<ck::Half> f16(static_cast<size_t>(heads) * (k16 + static_cast<size_t>(t) * hd));
    const size_t kb = ck::bf16_panels_size(t, hd), vb = ck::bf16_panels_size(hd, t);
    ck::AlignedArray<uint16_t> bf16(static_cast<uint16_t*>(ck::aligned_alloc_bytes(heads * (kb + vb) * sizeof(uint16_t))));
    std::vector<float> scratch(static_cast<size_t>(heads) * ck::attention_scratch_size(n, t, hd));
    // The caches hold the first t - n frames already.
    const float* k_rows = qkv.data() + heads * hd;
    const float* v_rows = qkv.data() + 2 * heads * hd;
    const size_t k_stride = ck::bf16_panels_size(ck::kPanel, hd), v_stride = ck::bf16_panels_size(ck::kPanel, t);
    for (int h = 0; h < heads; ++h) {
      ck::Half* kh = f16.data() + static_cast<size_t>(h) * (k16 + static_cast<size_t>(t) * hd);
      ck::pack_keys_f16(k_rows + h * hd, ld, t, hd, kh, 0);
      ck::to_f16(v_rows + h * hd, ld, t, hd, kh + k16, hd);
      uint16_t* kb_h = bf16.get() + static_cast<size_t>(h) * (kb + vb);
      ck::pack_bf16_nk(k_rows + h * hd, t, hd, ld, kb_h);
      ck::pack_bf16_kn(v_rows + h * hd, t, hd, ld, kb_h + kb);
    }
    const size_t new_rows = static_cast<size_t>(t - n) * ld;
    for (ck::Isa isa : available_isas()) {
      ck::force_isa(isa);
      const double t32 = time_best([&] {
        for (int h = 0; h < heads; ++h) {
          float* k = packed.data() + static_cast<size_t>(h) * (ck::packed_size(t, hd) + ck::packed_size(hd, t));
          ck::pack_nk_into(qkv.data() + heads * hd + h * hd, t, hd, ld, k);
          ck::pack_kn_into(qkv.data() + 2 * heads * hd + h * hd, t, hd, ld, k + ck::packed_size(t, hd));
          ck::gemm(n, q + h * hd, ld, k, t, hd, scores.data(), t, nullptr, false, &pool2);
          ck::softmax_rows(scores.data(), n, t, t);
          ck::gemm(n, scores.data(), t, k + ck::packed_size(t, hd), hd, t, out.data() + h * hd, heads * hd, nullptr, false,
                   &pool2);
        }
      });
      const double t16 = time_best([&] {
        pool2.parallel_for(heads, [&](int h) {
          ck::Half* kh = f16.data() + static_cast<size_t>(h) * (k16 + static_cast<size_t>(t) * hd);
          ck::pack_keys_f16(k_rows + new_rows + h * hd, ld, n, hd, kh, t - n);
          ck::to_f16(v_rows + new_rows + h * hd, ld, n, hd, kh + k16 + static_cast<size_t>(t - n) * hd, hd);
          ck::AttentionF16 a;
          a.n = n;
          a.q = q + h * hd;
          a.ldq = ld;
          a.k = f16.data() + static_cast<size_t>(h) * (k16 + static_cast<size_t>(t) * hd);
          a.v = a.k + k16;
          a.ldv = hd;
          a.t = t;
          a.head_dim = hd;
          a.scale = 0.125f;
          a.out = out.data() + h * hd;
          a.ldo = heads * hd;
          a.scratch = scratch.data() + static_cast<size_t>(h) * ck::attention_scratch_size(n, t, hd);
          ck::attention_f16(a);
        });
      });
      const double tb = time_best([&] {
        pool2.parallel_for(heads, [&](int h) {
          uint16_t* k = bf16.get() + static_cast<size_t>(h) * (kb + vb);
          ck::write_bf16_columns(k_rows + new_rows + h * hd, ld, t - n, n, hd, k_stride, k);
          ck::write_bf16_rows(v_rows + new_rows + h * hd, ld, t - n, n, hd, v_stride, k + kb);
          float* sc = scores.data() + static_cast<size_t>(h) * n * t;
          ck::gemm(n, q + h * hd, ld, ck::Bf16Panels{k, t, hd, k_stride}, sc, t, nullptr, false, nullptr);
          ck::softmax_rows(sc, n, t, t);
          ck::gemm(n, sc, t, ck::Bf16Panels{k + kb, hd, t, v_stride}, out.data() + h * hd, heads * hd, nullptr, false, nullptr);
        });
      });
      char dims[32];
      std::snprintf(dims, sizeof dims, "%d x %d", n, t);
      std::printf("%-10s %11s %12.3f %12.3f %12.3f %8.2fx %8.2fx\n", ck::isa_name(isa), dims, t32 * 1e3, t16 * 1e3, tb * 1e3,
                  t32 / tb, t16 / tb);
    }
  }
  ck::force_isa(ck::detect_isa());
}

// One decoder step's vocabulary row (51864 logits, Whisper's multilingual-less tiny.en size;
// timestamps from 50363), per call on one thread: the statistics of both ranges, and top-k at
// a greedy (1), beam-5 (6) and wide (16) k. Speedups are against the portable variant.
void bench_logits() {
  const int n = 51864, split = 50363;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> x(n);
  for (float& v : x) v = normal(rng);
  std::vector<int> best(16);
  std::printf("\nlogits row of %d, 1 thread, us per call (x speedup vs scalar variant)\n", n);
  std::printf("%-10s %18s %18s %18s %18s\n", "isa", "logit_stats", "top_k 1", "top_k 6", "top_k 16");
  double base[4] = {};
  for (ck::Isa isa : available_isas()) {
    ck::force_isa(isa);
    double t[4];
    t[0] = time_best([&] {
      ck::RangeStats head, tail;
      ck::logit_stats(x.data(), n, split, &head, &tail);
    }, 0.1);
    const int ks[] = {1, 6, 16};
    for (int i = 0; i < 3; ++i) t[i + 1] = time_best([&] { ck::top_k(x.data(), n, ks[i], best.data()); }, 0.1);
    std::printf("%-10s", ck::isa_name(isa));
    for (int i = 0; i < 4; ++i) {
      if (isa == ck::Isa::Scalar) base[i] = t[i];
      std::printf(" %9.2f (x%5.1f)", t[i] * 1e6, base[i] / t[i]);
    }
    std::printf("\n");
  }
  ck::force_isa(ck::detect_isa());
}

// A decoder step's vocabulary scores, 51,864 x 384 as in Whisper tiny: every column from the
// bf16 panels against gemm_ranked (int8 for all, bf16 again near each row's top and for the
// last 1,608 columns). Each row of A leans on one column of B, as a decoder state does on the
// token it predicts, so that a row has a top; the panels rescored per row are printed too.
void bench_ranked(ck::ThreadPool& pool2) {
  const int n = 51864, k = 384, exact_from = 50256;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<float> b(static_cast<size_t>(n) * k);
  for (float& v : b) v = normal(rng);
  const ck::Bf16Matrix exact = ck::to_bf16_nk(b.data(), n, k, k);
  const ck::RankedMatrix ranked = ck::rank_copy(exact);
  std::printf("\nvocabulary scores %d x %d, 2 threads, ms per call: bf16 product vs ranked (x speed-up)\n", n, k);
  std::printf("%-12s %5s %12s %12s %10s %16s\n", "isa", "rows", "bf16", "ranked", "", "panels per row");
  for (ck::Isa isa : available_isas()) {
    if (isa == ck::Isa::Scalar) continue;
    ck::force_isa(isa);
    for (int m : {1, 8, 32}) {
      std::vector<float> a(static_cast<size_t>(m) * k), c(static_cast<size_t>(m) * n);
      for (int i = 0; i < m; ++i) {
        const int token = static_cast<int>(rng() % exact_from);
        for (int kk = 0; kk < k; ++kk) a[static_cast<size_t>(i) * k + kk] = 40.0f * b[static_cast<size_t>(token) * k + kk] + 20.0f * normal(rng);
      }
      const double full = time_best([&] { ck::gemm(m, a.data(), k, exact, c.data(), n, nullptr, false, &pool2); });
      ck::RankedCounts counts;
      const double fast = time_best([&] { ck::gemm_ranked(m, a.data(), k, ranked, exact, exact_from, c.data(), n, &pool2, &counts); });
      std::printf("%-12s %5d %12.3f %12.3f %9.2fx %16.1f\n", ck::isa_name(isa), m, full * 1e3, fast * 1e3, full / fast,
                  static_cast<double>(counts.panels) / static_cast<double>(counts.rows));
    }
  }
  ck::force_isa(ck::detect_isa());
}

// The convolution stem of one 30 s window: the im2col columns (conv1_k3_cols, one thread)
// against the product they feed (gemm, 2 threads, best instruction set).
void bench_conv(ck::ThreadPool& pool2) {
  const int mels = 80, frames = 3000, state = 384;
  const std::vector<float> mel = random_vec(static_cast<size_t>(mels) * frames);
  const std::vector<float> x1 = random_vec(static_cast<size_t>(frames) * state);
  const ck::Weights w1 = ck::make_weights(random_vec(static_cast<size_t>(state) * mels * 3).data(), state, mels * 3, mels * 3,
                                          ck::Precision::Fp32);
  const ck::Weights w2 = ck::make_weights(random_vec(static_cast<size_t>(state) * state * 3).data(), state, state * 3,
                                          state * 3, ck::Precision::Fp32);
  std::vector<float> cols(static_cast<size_t>(frames) * state * 3), out(static_cast<size_t>(frames) * state);
  struct Conv {
    const char* name;
    ck::Conv1dInput x;
    int stride;
    const ck::Weights& w;
  };
  const Conv convs[] = {{"conv1 80 -> 384, 3000 frames", {mel.data(), mels, frames, 0, frames, 1}, 1, w1},
                        {"conv2 384 -> 384, stride 2", {x1.data(), state, frames, 0, 1, state}, 2, w2}};
  std::printf("\nconv stem of a 30 s window, ms: columns (1 thread) and the gemm they feed (2 threads)\n");
  std::printf("%-32s %10s %10s %10s\n", "conv", "columns", "gemm", "columns %");
  for (const Conv& c : convs) {
    const int rows = (frames - 1) / c.stride + 1, k = c.x.channels * 3;
    const double t_cols = time_best([&] { ck::conv1d_k3_cols(c.x, c.stride, 0, rows, cols.data(), k); }, 0.1);
    const double t_gemm = time_best([&] { ck::gemm(rows, cols.data(), k, c.w, out.data(), state, nullptr, false, &pool2); }, 0.1);
    std::printf("%-32s %10.3f %10.3f %9.1f%%\n", c.name, t_cols * 1e3, t_gemm * 1e3, 100.0 * t_cols / (t_cols + t_gemm));
  }
}

// Each kernel as a fraction of the machine's measured ceilings (bench/peak.cpp), 2 threads:
// the encoder's largest product against the throughput of the instruction it is built on, and
// decoder steps (one row) against memory read bandwidth, counting the weight bytes read.
void bench_fraction_of_peak(ck::ThreadPool& pool) {
  const std::vector<chorus::bench::Peak> peaks = chorus::bench::measure_peaks(pool);
  std::printf("\nmeasured ceilings, %d threads\n", pool.size());
  double bandwidth = 0.0;
  for (const auto& p : peaks) {
    const bool bytes = p.kind == chorus::bench::PeakKind::MemoryRead;
    if (bytes) bandwidth = p.per_second;
    std::printf("  %-32s %8.1f %s\n", p.name, p.per_second * 1e-9, bytes ? "GB/s" : "GOP/s");
  }
  auto peak_of = [&](chorus::bench::PeakKind kind) {
    for (const auto& p : peaks) {
      if (p.kind == kind) return p.per_second;
    }
    return 0.0;
  };
  using K = chorus::bench::PeakKind;
  struct Variant {
    const char* name;
    ck::Precision precision;
    ck::Isa isa;
    K peak;
    int weight_bytes;
  };
  const ck::Isa best = ck::detect_isa();
  std::vector<Variant> variants;
  if (best == ck::Isa::Neon) {
    variants.push_back({"fp32-neon", ck::Precision::Fp32, best, K::Fp32FmaNeon, 4});
    variants.push_back({"bf16-neon", ck::Precision::Bf16, best, K::Fp32FmaNeon, 2});
    ck::force_isa(best);
    variants.push_back({ck::weights_variant(ck::Precision::Int8, 1500), ck::Precision::Int8, best, K::MemoryRead, 1});
  } else {
    if (best >= ck::Isa::Avx2) {
      variants.push_back({"fp32-avx2", ck::Precision::Fp32, ck::Isa::Avx2, K::Fp32FmaYmm, 4});
      variants.push_back({"bf16-avx2", ck::Precision::Bf16, ck::Isa::Avx2, K::Fp32FmaYmm, 2});
      variants.push_back({"int8-avx2", ck::Precision::Int8, ck::Isa::Avx2, K::Int8MaddYmm, 1});
    }
    if (best >= ck::Isa::Avx512) {
      variants.push_back({"fp32-avx512", ck::Precision::Fp32, ck::Isa::Avx512, K::Fp32FmaZmm, 4});
      variants.push_back({"bf16-avx512", ck::Precision::Bf16, ck::Isa::Avx512, K::Fp32FmaZmm, 2});
    }
    if (best >= ck::Isa::Avx512Vnni) variants.push_back({"int8-vnni", ck::Precision::Int8, ck::Isa::Avx512Vnni, K::Int8DotZmm, 1});
    if (best >= ck::Isa::Avx512Bf16) variants.push_back({"bf16-dpbf16", ck::Precision::Bf16, ck::Isa::Avx512Bf16, K::Bf16DotZmm, 2});
  }
  struct Product {
    const char* name;
    int m, n, k;
  };
  const Product encoder = {"encoder 1500x1536x384", 1500, 1536, 384};
  // The vocabulary projection: the decoder step's largest product, 20-80 MB of weights read
  // once per step. Over 100 % of the DRAM figure means part of them came from the last-level
  // cache (a 32 MB L3 holds all of the int8 matrix, a third of the fp32 one).
  const Product step = {"step 1x51864x384", 1, 51864, 384};
  std::printf("%-12s %24s %24s\n", "variant", encoder.name, step.name);
  std::printf("%-12s %24s %24s\n", "", "GOP/s (% of its peak)", "weight GB/s (% of DRAM)");
  for (const Variant& v : variants) {
    ck::force_isa(v.isa);
    std::printf("%-12s", v.name);
    for (const Product* p : {&encoder, &step}) {
      const std::vector<float> b = random_vec(static_cast<size_t>(p->n) * p->k);
      const ck::Weights w = ck::make_weights(b.data(), p->n, p->k, p->k, v.precision);
      const std::vector<float> a = random_vec(static_cast<size_t>(p->m) * p->k);
      std::vector<float> c(static_cast<size_t>(p->m) * p->n);
      const double t = time_best([&] { ck::gemm(p->m, a.data(), p->k, w, c.data(), p->n, nullptr, false, &pool); });
      if (p == &encoder) {
        const double gops = 2.0 * p->m * p->n * p->k / t * 1e-9;
        const double peak = v.peak == K::MemoryRead ? 0.0 : peak_of(v.peak);
        if (peak > 0.0) {
          std::printf(" %14.1f (%5.1f%%)", gops, 100.0 * gops * 1e9 / peak);
        } else {
          std::printf(" %14.1f (  n/a )", gops);
        }
      } else {
        const double gbs = static_cast<double>(p->n) * p->k * v.weight_bytes / t * 1e-9;
        std::printf(" %14.1f (%5.1f%%)", gbs, 100.0 * gbs * 1e9 / bandwidth);
      }
    }
    std::printf("\n");
  }
  ck::force_isa(ck::detect_isa());
}

}  // namespace

int main(int argc, char** argv) {
  std::printf("detected isa: %s\n", ck::isa_name(ck::detect_isa()));
  ck::ThreadPool pool1(1), pool2(2);
  // No argument runs every section; --weights, --ranked, --logits, --conv, --attention or
  // --peak runs only that one.
  const std::string only = argc > 1 ? argv[1] : "";
  const bool all = only.empty();
  if (all) bench_gemm(pool1, pool2);
  if (all || only == "--weights") {
    bench_lowp(pool2);
    bench_amx(pool2);
  }
  if (all) {
    bench_ops();
    bench_stft(pool1, pool2);
    bench_attention(pool2);
  }
  if (all || only == "--ranked") bench_ranked(pool2);
  if (all || only == "--logits") bench_logits();
  if (all || only == "--conv") bench_conv(pool2);
  if (all || only == "--attention") bench_encoder_attention(pool2);
  if (all || only == "--peak") bench_fraction_of_peak(pool2);
  return 0;
}
