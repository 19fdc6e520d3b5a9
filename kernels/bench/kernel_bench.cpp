// Kernel throughput per instruction-set variant, all measured in one process so the
// ratios compare like with like. Speedups are against the portable (scalar) variant.
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "chorus/kernels.h"

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
  for (ck::Isa isa : {ck::Isa::Scalar, ck::Isa::Avx2, ck::Isa::Avx512, ck::Isa::Avx512Vnni, ck::Isa::Avx512Bf16}) {
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
  if (best >= ck::Isa::Avx512Bf16) variants.push_back({"bf16-dpbf16", ck::Precision::Bf16, ck::Isa::Avx512Bf16});
  if (best >= ck::Isa::Avx512) variants.push_back({"bf16-avx512", ck::Precision::Bf16, ck::Isa::Avx512});
  if (best >= ck::Isa::Avx512Vnni) variants.push_back({"int8-vnni", ck::Precision::Int8, ck::Isa::Avx512Vnni});
  if (best >= ck::Isa::Avx2) variants.push_back({"int8-avx2", ck::Precision::Int8, ck::Isa::Avx2});
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

}  // namespace

int main(int argc, char** argv) {
  std::printf("detected isa: %s\n", ck::isa_name(ck::detect_isa()));
  ck::ThreadPool pool1(1), pool2(2);
  const bool lowp_only = argc > 1 && std::string(argv[1]) == "--weights";
  if (!lowp_only) bench_gemm(pool1, pool2);
  bench_lowp(pool2);
  if (!lowp_only) bench_ops();
  return 0;
}
