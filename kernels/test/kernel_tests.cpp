// Kernel correctness: every compiled instruction-set variant against the reference loops.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "chorus/kernels.h"

namespace ck = chorus::kernels;

namespace {

int g_passed = 0;
int g_failed = 0;

#define CHECK(cond, ...)                                  \
  do {                                                    \
    if (cond) {                                           \
      ++g_passed;                                         \
    } else {                                              \
      ++g_failed;                                         \
      std::printf("FAIL %s:%d: ", __FILE__, __LINE__);    \
      std::printf(__VA_ARGS__);                           \
      std::printf("\n");                                  \
    }                                                     \
  } while (0)

std::mt19937 g_rng(12345);

std::vector<float> random_vec(size_t n, float lo = -1.0f, float hi = 1.0f, std::mt19937& rng = g_rng) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
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

constexpr float kSentinel = 12345.0f;

struct GemmCase {
  int m, n, k;
};

// One product checked under one combination of options; reports the worst element.
void check_gemm(const GemmCase& s, const std::vector<float>& a, int lda, const float* packed,
                const std::vector<float>& ref, const std::vector<float>& bias, bool use_bias,
                bool accumulate, bool strided, ck::ThreadPool* pool, const char* isa) {
  const int ldc = strided ? s.n + 7 : s.n;
  std::vector<float> c0 = random_vec(static_cast<size_t>(s.m) * ldc);
  for (int i = 0; i < s.m; ++i) {
    for (int j = s.n; j < ldc; ++j) c0[static_cast<size_t>(i) * ldc + j] = kSentinel;
  }
  std::vector<float> c = c0;
  ck::gemm(s.m, a.data(), lda, packed, s.n, s.k, c.data(), ldc, use_bias ? bias.data() : nullptr,
           accumulate, pool);
  const float tol = 1e-4f * std::sqrt(static_cast<float>(s.k));
  double worst = 0.0;
  bool pad_ok = true;
  for (int i = 0; i < s.m; ++i) {
    for (int j = 0; j < ldc; ++j) {
      const size_t at = static_cast<size_t>(i) * ldc + j;
      if (j >= s.n) {
        pad_ok = pad_ok && c[at] == kSentinel;
        continue;
      }
      float want = ref[static_cast<size_t>(i) * s.n + j];
      if (use_bias) want += bias[j];
      if (accumulate) want += c0[at];
      const double err = std::fabs(c[at] - want) / (1.0 + std::fabs(want));
      if (!(err <= worst)) worst = err;  // NaN propagates into worst
    }
  }
  CHECK(worst <= tol && pad_ok, "gemm isa=%s m=%d n=%d k=%d bias=%d acc=%d strided=%d threads=%d: err %g (tol %g) pad_ok=%d",
        isa, s.m, s.n, s.k, use_bias, accumulate, strided, pool ? pool->size() : 0, worst, tol, pad_ok);
}

void test_gemm(ck::ThreadPool& pool1, ck::ThreadPool& pool2) {
  const int ms[] = {1, 2, 3, 5, 7, 8, 13, 64, 100};
  const int ns[] = {1, 15, 16, 17, 33, 384, 1000};
  const int ks[] = {1, 3, 17, 80, 384, 1536};
  ck::ThreadPool* pools[] = {nullptr, &pool1, &pool2};
  const std::vector<ck::Isa> isas = available_isas();
  int combo = 0;
  for (int m : ms) {
    for (int n : ns) {
      for (int k : ks) {
        ++combo;
        const GemmCase s{m, n, k};
        const int lda_wide = k + 5;
        const int ldb = k + 3;
        std::vector<float> a = random_vec(static_cast<size_t>(m) * lda_wide);
        std::vector<float> b = random_vec(static_cast<size_t>(n) * ldb);
        std::vector<float> bias = random_vec(n);
        std::vector<float> ref(static_cast<size_t>(m) * n);
        ck::reference::gemm_nk(m, a.data(), lda_wide, b.data(), ldb, n, k, ref.data(), n, nullptr, false);

        ck::PackedMatrix packed = ck::pack_nk(b.data(), n, k, ldb);
        // The [k][n] packing of the transpose must give the same panels.
        std::vector<float> bt(static_cast<size_t>(k) * (n + 2));
        for (int j = 0; j < n; ++j) {
          for (int kk = 0; kk < k; ++kk) bt[static_cast<size_t>(kk) * (n + 2) + j] = b[static_cast<size_t>(j) * ldb + kk];
        }
        ck::PackedMatrix packed_kn = ck::pack_kn(bt.data(), k, n, n + 2);
        const size_t size = ck::packed_size(n, k);
        CHECK(packed.n == n && packed.k == k && size == static_cast<size_t>((n + 15) / 16) * 16 * k &&
                  std::memcmp(packed.data.get(), packed_kn.data.get(), size * sizeof(float)) == 0,
              "pack_nk and pack_kn differ for n=%d k=%d", n, k);

        // Same A rows with a tight stride, to cover lda == k.
        std::vector<float> a_tight(static_cast<size_t>(m) * k);
        for (int i = 0; i < m; ++i) {
          std::memcpy(&a_tight[static_cast<size_t>(i) * k], &a[static_cast<size_t>(i) * lda_wide], k * sizeof(float));
        }

        for (ck::Isa isa : isas) {
          ck::force_isa(isa);
          for (int v = 0; v < 4; ++v) {
            const bool strided = ((v + combo) & 1) != 0;
            ck::ThreadPool* pool = pools[(v + combo / 2) % 3];
            check_gemm(s, strided ? a : a_tight, strided ? lda_wide : k, packed.data.get(), ref, bias,
                       (v & 1) != 0, (v & 2) != 0, strided, pool, ck::isa_name(isa));
          }
        }
      }
    }
  }
  ck::force_isa(ck::detect_isa());
}

void test_gemm_edges(ck::ThreadPool& pool2) {
  // k == 0: only bias and accumulation remain.
  std::vector<float> bias = random_vec(20);
  std::vector<float> c(3 * 20, 2.0f);
  ck::gemm(3, nullptr, 0, nullptr, 20, 0, c.data(), 20, bias.data(), true, &pool2);
  bool ok = true;
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 20; ++j) ok = ok && c[i * 20 + j] == 2.0f + bias[j];
  }
  CHECK(ok, "gemm with k=0");

  // Zero padding past n in the last panel.
  std::vector<float> b = random_vec(17 * 5);
  ck::PackedMatrix p = ck::pack_nk(b.data(), 17, 5, 5);
  ok = true;
  for (int kk = 0; kk < 5; ++kk) {
    for (int j = 1; j < 16; ++j) ok = ok && p.data.get()[16 * 5 + kk * 16 + j] == 0.0f;
  }
  CHECK(ok, "packed panel padding is zero");
  CHECK(reinterpret_cast<uintptr_t>(ck::aligned_alloc_floats(3).get()) % 64 == 0, "aligned_alloc_floats alignment");

  // The PackedMatrix overload, with more rows than one packed A block and a reduction
  // split into uneven blocks, on one thread and split across two.
  const int m = 300, n = 500, k = 700;
  std::vector<float> a = random_vec(static_cast<size_t>(m) * k);
  std::vector<float> w = random_vec(static_cast<size_t>(n) * k);
  std::vector<float> ref(static_cast<size_t>(m) * n), got(static_cast<size_t>(m) * n);
  ck::reference::gemm_nk(m, a.data(), k, w.data(), k, n, k, ref.data(), n, nullptr, false);
  ck::PackedMatrix pw = ck::pack_nk(w.data(), n, k, k);
  for (ck::Isa isa : available_isas()) {
    ck::force_isa(isa);
    for (ck::ThreadPool* pool : {static_cast<ck::ThreadPool*>(nullptr), &pool2}) {
      ck::gemm(m, a.data(), k, pw, got.data(), n, nullptr, false, pool);
      double worst = 0.0;
      for (size_t i = 0; i < ref.size(); ++i) worst = std::fmax(worst, std::fabs(got[i] - ref[i]) / (1.0 + std::fabs(ref[i])));
      CHECK(worst < 1e-4 * std::sqrt(k), "gemm isa=%s m=%d n=%d k=%d threads=%d err %g", ck::isa_name(isa), m, n, k,
            pool ? pool->size() : 0, worst);
    }
  }
  ck::force_isa(ck::detect_isa());
}

// Worst of |got - want| / (floor + |want| + |c0|) over the m x n block of C (row stride ldc);
// NaN propagates into the result.
double worst_error(int m, int n, const std::vector<float>& got, int ldc, const std::vector<float>& want,
                   const std::vector<float>& c0, bool accumulate) {
  double worst = 0.0;
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      const size_t at = static_cast<size_t>(i) * ldc + j;
      const double err = std::fabs(got[at] - want[at]) / (1.0 + std::fabs(want[at]) + (accumulate ? std::fabs(c0[at]) : 0.0));
      if (!(err <= worst)) worst = err;
    }
  }
  return worst;
}

// Int8 and bf16 weights on every variant, thread count and option against the reference of
// their own scheme, and the schemes themselves against the exact fp32 product within their
// analytic error bounds.
void test_lowp(ck::ThreadPool& pool1, ck::ThreadPool& pool2) {
  const int ms[] = {1, 2, 3, 5, 12, 13, 25, 64, 100};
  const int ns[] = {1, 15, 16, 17, 33, 100, 384};
  // 27: 7 groups of 4 (one 4-group block of the NEON sdot kernel, then 3 single groups).
  const int ks[] = {1, 2, 3, 5, 17, 27, 80, 384, 1536};
  ck::ThreadPool* pools[] = {nullptr, &pool1, &pool2};
  const std::vector<ck::Isa> isas = available_isas();
  int combo = 0;
  for (int m : ms) {
    for (int n : ns) {
      for (int k : ks) {
        ++combo;
        const int lda = k + 3, ldb = k + 1, ldc = n + 5;
        std::vector<float> a = random_vec(static_cast<size_t>(m) * lda);
        std::vector<float> b = random_vec(static_cast<size_t>(n) * ldb, -0.2f, 0.2f);
        // Uneven magnitudes, as in trained weights, and an all-zero row of A (scale 0).
        for (int j = 0; j < n; j += 3) b[static_cast<size_t>(j) * ldb] = 3.0f;
        if (m > 2) std::fill(a.begin() + lda, a.begin() + 2 * lda, 0.0f);
        const std::vector<float> bias = random_vec(n);
        const std::vector<float> c0 = random_vec(static_cast<size_t>(m) * ldc);

        const ck::QuantizedMatrix q8 = ck::quantize_nk(b.data(), n, k, ldb);
        const ck::Bf16Matrix bf = ck::to_bf16_nk(b.data(), n, k, ldb);

        // References with bias and accumulation folded in, for each option combination.
        for (int v = 0; v < 4; ++v) {
          const bool use_bias = (v & 1) != 0, accumulate = (v & 2) != 0;
          const float* bp = use_bias ? bias.data() : nullptr;
          std::vector<float> ref_q8 = c0, ref_bf = c0, ref_bf_a = c0;
          ck::reference::gemm_q8_nk(m, a.data(), lda, b.data(), ldb, n, k, ref_q8.data(), ldc, bp, accumulate);
          ck::reference::gemm_bf16_nk(m, a.data(), lda, b.data(), ldb, n, k, ref_bf.data(), ldc, bp, accumulate, false);
          ck::reference::gemm_bf16_nk(m, a.data(), lda, b.data(), ldb, n, k, ref_bf_a.data(), ldc, bp, accumulate, true);
          for (ck::Isa isa : isas) {
            ck::force_isa(isa);
            ck::ThreadPool* pool = pools[(v + combo + static_cast<int>(isa)) % 3];
            std::vector<float> c = c0;
            ck::gemm(m, a.data(), lda, q8, c.data(), ldc, bp, accumulate, pool);
            // Same integers as the reference; only the final float scaling may differ by an ulp or two.
            const double e8 = worst_error(m, n, c, ldc, ref_q8, c0, accumulate);
            CHECK(e8 <= 1e-5, "gemm int8 isa=%s m=%d n=%d k=%d bias=%d acc=%d threads=%d: err %g", ck::isa_name(isa), m,
                  n, k, use_bias, accumulate, pool ? pool->size() : 0, e8);
            c = c0;
            ck::gemm(m, a.data(), lda, bf, c.data(), ldc, bp, accumulate, pool);
            // fp32 accumulation in another order than the double reference: gemm's tolerance.
            const bool rounds_a = isa == ck::Isa::Avx512Bf16 || isa == ck::Isa::Amx;  // vdpbf16ps, tdpbf16ps
            const double eb = worst_error(m, n, c, ldc, rounds_a ? ref_bf_a : ref_bf, c0, accumulate);
            CHECK(eb <= 1e-4 * std::sqrt(static_cast<double>(k)), "gemm bf16 isa=%s m=%d n=%d k=%d bias=%d acc=%d threads=%d: err %g",
                  ck::isa_name(isa), m, n, k, use_bias, accumulate, pool ? pool->size() : 0, eb);
            bool pad_ok = true;
            for (int i = 0; i < m; ++i) {
              for (int j = n; j < ldc; ++j) pad_ok = pad_ok && c[static_cast<size_t>(i) * ldc + j] == c0[static_cast<size_t>(i) * ldc + j];
            }
            CHECK(pad_ok, "gemm bf16 isa=%s m=%d n=%d k=%d wrote past n", ck::isa_name(isa), m, n, k);
          }
          ck::force_isa(ck::detect_isa());
        }

        // The schemes against the exact product. int8: with |q * s - x| <= s / 2 on both
        // sides, |err| <= s_b/2 sum|a| + s_a/2 sum|b| + s_a s_b k / 4. bf16 keeps 8
        // significant bits, so each rounded operand is within 2^-8 relative and
        // |err| <= (2^-7 + 2^-16) sum|a b|.
        std::vector<float> exact(static_cast<size_t>(m) * n), got_q8(exact.size()), got_bf(exact.size());
        ck::reference::gemm_nk(m, a.data(), lda, b.data(), ldb, n, k, exact.data(), n, nullptr, false);
        ck::reference::gemm_q8_nk(m, a.data(), lda, b.data(), ldb, n, k, got_q8.data(), n, nullptr, false);
        ck::reference::gemm_bf16_nk(m, a.data(), lda, b.data(), ldb, n, k, got_bf.data(), n, nullptr, false, true);
        bool q8_ok = true, bf_ok = true;
        std::vector<int8_t> q(k);
        for (int i = 0; i < m; ++i) {
          const float* ai = a.data() + static_cast<size_t>(i) * lda;
          float sa = 0.0f;
          ck::reference::quantize_symmetric(ai, k, q.data(), &sa);
          double sum_a = 0.0;
          for (int kk = 0; kk < k; ++kk) sum_a += std::fabs(ai[kk]);
          for (int j = 0; j < n; ++j) {
            const float* bj = b.data() + static_cast<size_t>(j) * ldb;
            double sum_b = 0.0, sum_ab = 0.0;
            for (int kk = 0; kk < k; ++kk) {
              sum_b += std::fabs(bj[kk]);
              sum_ab += std::fabs(ai[kk] * bj[kk]);
            }
            const double sb = q8.scale[j];
            const double bound_q8 = sb / 2 * sum_a + sa / 2.0 * sum_b + sa * sb * k / 4 + 1e-6 * (1 + sum_ab);
            const double bound_bf = (1.0 / 128 + 1.0 / 65536) * sum_ab + 1e-6 * (1 + sum_ab);
            const size_t at = static_cast<size_t>(i) * n + j;
            q8_ok = q8_ok && std::fabs(got_q8[at] - exact[at]) <= bound_q8;
            bf_ok = bf_ok && std::fabs(got_bf[at] - exact[at]) <= bound_bf;
          }
        }
        CHECK(q8_ok, "int8 scheme outside its error bound m=%d n=%d k=%d", m, n, k);
        CHECK(bf_ok, "bf16 scheme outside its error bound m=%d n=%d k=%d", m, n, k);

        // Stored columns read back as the dequantised weights; Weights wraps each type.
        bool col_ok = true;
        std::vector<float> col(k), qcol(k);
        for (int j = 0; j < n; j += 7) {
          const float* bj = b.data() + static_cast<size_t>(j) * ldb;
          float s = 0.0f;
          ck::reference::quantize_symmetric(bj, k, q.data(), &s);
          ck::column(q8, j, col.data());
          for (int kk = 0; kk < k; ++kk) col_ok = col_ok && col[kk] == s * q[kk];
          ck::column(bf, j, col.data());
          for (int kk = 0; kk < k; ++kk) col_ok = col_ok && col[kk] == ck::from_bf16(ck::to_bf16(bj[kk]));
        }
        CHECK(col_ok, "column() of int8/bf16 weights m=%d n=%d k=%d", m, n, k);
      }
    }
  }
}

void test_weights(ck::ThreadPool& pool2) {
  const int m = 7, n = 45, k = 37;
  const std::vector<float> a = random_vec(static_cast<size_t>(m) * k), b = random_vec(static_cast<size_t>(n) * k);
  const std::vector<float> bias = random_vec(n);
  const ck::PackedMatrix f32 = ck::pack_nk(b.data(), n, k, k);
  const ck::QuantizedMatrix q8 = ck::quantize_nk(b.data(), n, k, k);
  const ck::Bf16Matrix bf = ck::to_bf16_nk(b.data(), n, k, k);
  for (ck::Precision p : {ck::Precision::Fp32, ck::Precision::Bf16, ck::Precision::Int8}) {
    ck::Precision parsed = ck::Precision::Fp32;
    CHECK(ck::parse_precision(ck::precision_name(p), &parsed) && parsed == p, "parse_precision(%s)", ck::precision_name(p));
    const ck::Weights w = ck::make_weights(b.data(), n, k, k, p);
    CHECK(w.precision == p && w.n() == n && w.k() == k, "Weights %s shape", ck::precision_name(p));
    std::vector<float> got(static_cast<size_t>(m) * n), want(got.size()), col(k), want_col(k);
    ck::gemm(m, a.data(), k, w, got.data(), n, bias.data(), false, &pool2);
    if (p == ck::Precision::Fp32) ck::gemm(m, a.data(), k, f32, want.data(), n, bias.data(), false, &pool2);
    if (p == ck::Precision::Bf16) ck::gemm(m, a.data(), k, bf, want.data(), n, bias.data(), false, &pool2);
    if (p == ck::Precision::Int8) ck::gemm(m, a.data(), k, q8, want.data(), n, bias.data(), false, &pool2);
    CHECK(got == want, "gemm over Weights(%s) matches the typed overload", ck::precision_name(p));
    bool col_ok = true;
    for (int j = 0; j < n; ++j) {
      ck::column(w, j, col.data());
      if (p == ck::Precision::Fp32) ck::column(f32, j, want_col.data());
      if (p == ck::Precision::Bf16) ck::column(bf, j, want_col.data());
      if (p == ck::Precision::Int8) ck::column(q8, j, want_col.data());
      col_ok = col_ok && col == want_col;
      if (p == ck::Precision::Fp32) col_ok = col_ok && std::equal(col.begin(), col.end(), b.begin() + static_cast<size_t>(j) * k);
    }
    CHECK(col_ok, "column(Weights(%s))", ck::precision_name(p));
  }
  // Activations packed per call into the caller's storage: the same panels as weights, from
  // [n][k] rows or from [k][n] rows, and the same products bit for bit.
  {
    std::vector<float> bt(static_cast<size_t>(k) * (n + 2));  // b transposed, row stride n + 2
    for (int j = 0; j < n; ++j) {
      for (int kk = 0; kk < k; ++kk) bt[static_cast<size_t>(kk) * (n + 2) + j] = b[static_cast<size_t>(j) * k + kk];
    }
    const size_t size = ck::bf16_panels_size(n, k);
    CHECK(size * sizeof(uint16_t) == bf.bytes(), "bf16_panels_size %zu values for %zu bytes", size, bf.bytes());
    std::vector<uint16_t> nk(size, 0xFFFF), kn(size, 0xFFFF);
    ck::pack_bf16_nk(b.data(), n, k, k, nk.data());
    ck::pack_bf16_kn(bt.data(), k, n, n + 2, kn.data());
    CHECK(std::equal(nk.begin(), nk.end(), bf.data.get()) && kn == nk, "pack_bf16_nk/kn equal to_bf16_nk, padding zeroed");
    // A cache with room for more k than the product uses (its own panel stride), its rows
    // written in two pieces, as a streaming window stores values hop by hop.
    const int k_room = k + 20;
    const size_t stride = ck::bf16_panels_size(ck::kPanel, k_room);
    std::vector<uint16_t> cache(ck::bf16_panels_size(n, k_room), 0);
    ck::write_bf16_rows(bt.data(), n + 2, 0, 10, n, stride, cache.data());
    ck::write_bf16_rows(bt.data() + 10 * (n + 2), n + 2, 10, k - 10, n, stride, cache.data());
    // The caller's storage promises only uint16_t alignment: the same panels two bytes past a
    // 64-byte boundary must give the same products (aligned vector loads would fault).
    std::vector<uint16_t> room(size + 64);
    uint16_t* misaligned = room.data();
    while (reinterpret_cast<uintptr_t>(misaligned) % 64 != 2) ++misaligned;
    std::copy(kn.begin(), kn.end(), misaligned);
    std::vector<float> got(static_cast<size_t>(m) * n), want(got.size());
    for (ck::Isa isa : available_isas()) {
      ck::force_isa(isa);
      ck::gemm(m, a.data(), k, bf, want.data(), n, bias.data(), false, &pool2);
      ck::gemm(m, a.data(), k, ck::Bf16Panels{kn.data(), n, k}, got.data(), n, bias.data(), false, &pool2);
      CHECK(got == want, "gemm isa=%s over Bf16Panels matches Bf16Matrix", ck::isa_name(isa));
      std::fill(got.begin(), got.end(), 0.0f);
      ck::gemm(m, a.data(), k, ck::Bf16Panels{cache.data(), n, k, stride}, got.data(), n, bias.data(), false, &pool2);
      CHECK(got == want, "gemm isa=%s over Bf16Panels with a panel stride, rows written piecewise", ck::isa_name(isa));
      std::fill(got.begin(), got.end(), 0.0f);
      ck::gemm(m, a.data(), k, ck::Bf16Panels{misaligned, n, k}, got.data(), n, bias.data(), false, &pool2);
      CHECK(got == want, "gemm isa=%s over Bf16Panels at a 2-byte offset", ck::isa_name(isa));
    }
    ck::force_isa(ck::detect_isa());
    // Keys cached column by column: the same panels as packing them at once.
    std::vector<uint16_t> columns(size, 0);
    ck::write_bf16_columns(b.data(), k, 0, 20, k, ck::bf16_panels_size(ck::kPanel, k), columns.data());
    ck::write_bf16_columns(b.data() + 20 * k, k, 20, n - 20, k, ck::bf16_panels_size(ck::kPanel, k), columns.data());
    CHECK(columns == nk, "write_bf16_columns piecewise equals pack_bf16_nk");
  }
  // Sizes: int8 stores a quarter of fp32 (plus per-column scale and sum), bf16 half.
  const ck::Weights big8 = ck::make_weights(random_vec(384 * 384).data(), 384, 384, 384, ck::Precision::Int8);
  const ck::Weights big16 = ck::make_weights(random_vec(384 * 384).data(), 384, 384, 384, ck::Precision::Bf16);
  CHECK(big8.bytes() == 384 * 384 + 384 * 8 && big16.bytes() == 384 * 384 * 2, "int8/bf16 byte sizes %zu %zu", big8.bytes(),
        big16.bytes());
  ck::Precision unused;
  CHECK(!ck::parse_precision("fp16", &unused) && !ck::parse_precision("", &unused), "parse_precision rejects unknown names");

  // k == 0 leaves bias and accumulation only.
  const ck::QuantizedMatrix q0 = ck::quantize_nk(nullptr, 20, 0, 0);
  std::vector<float> c(3 * 20, 2.0f);
  ck::gemm(3, nullptr, 0, q0, c.data(), 20, bias.data(), true, &pool2);
  bool ok = true;
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 20; ++j) ok = ok && c[i * 20 + j] == 2.0f + bias[j];
  }
  CHECK(ok, "int8 gemm with k=0");

  // bf16 rounding: nearest, ties to even; infinities and NaN survive.
  CHECK(ck::to_bf16(1.0f) == 0x3F80 && ck::to_bf16(1.0f + 1.0f / 256) == 0x3F80 &&
            ck::to_bf16(1.0f + 3.0f / 256) == 0x3F82 && ck::to_bf16(-2.0f) == 0xC000 &&
            ck::to_bf16(std::numeric_limits<float>::infinity()) == 0x7F80 &&
            std::isnan(ck::from_bf16(ck::to_bf16(std::numeric_limits<float>::quiet_NaN()))),
        "to_bf16 rounding");
}

// Ranked products: the columns near each row's top (by int8 score), enough more that the
// rest cannot move the row's log-sum-exp by kRankTailError, and every column from exact_from on
// are the bf16 product's, bit for bit; the rest are the int8 product's.
void test_ranked(ck::ThreadPool& pool2) {
  const int n = 40 * ck::kPanel + 5, k = 96, exact_from = 600, m = 5;
  std::vector<float> b = random_vec(static_cast<size_t>(n) * k);
  // Near-ties with column 7 in other panels, so that a row's top spans several panels.
  for (int copy : {100, 101, 350, 520}) {
    for (int kk = 0; kk < k; ++kk) {
      b[static_cast<size_t>(copy) * k + kk] = b[static_cast<size_t>(7) * k + kk] * (1.0f + 0.002f * (copy % 7));
    }
  }
  std::vector<float> a = random_vec(static_cast<size_t>(m) * k, -0.3f, 0.3f);
  for (int i = 0; i < 3; ++i) {
    for (int kk = 0; kk < k; ++kk) a[static_cast<size_t>(i) * k + kk] += 2.0f * b[static_cast<size_t>(7) * k + kk];
  }
  // An outlier in a dimension every column ignores widens a row's int8 step, and its margin,
  // but not its scores. Row 4 is also flat: its mass spreads over every panel, where int8's
  // errors (from the wide step) would move its log-sum-exp.
  for (int j = 0; j < n; ++j) b[static_cast<size_t>(j) * k + 5] = 0.0f;
  a[static_cast<size_t>(1) * k + 5] = 40.0f;
  for (int kk = 0; kk < k; ++kk) a[static_cast<size_t>(4) * k + kk] *= 0.1f;
  a[static_cast<size_t>(4) * k + 5] = 60.0f;
  const ck::Bf16Matrix exact = ck::to_bf16_nk(b.data(), n, k, k);
  const ck::RankedMatrix ranked = ck::rank_copy(exact);
  CHECK(ranked.coarse.n == n && ranked.column_norm > 0 && ranked.column_step > 0, "rank_copy shape and norms");
  const int tail = exact_from / ck::kPanel * ck::kPanel, ranked_panels = tail / ck::kPanel;
  for (ck::Isa isa : available_isas()) {
    ck::force_isa(isa);
    std::vector<float> got(static_cast<size_t>(m) * n), want(got.size()), coarse(got.size());
    ck::gemm(m, a.data(), k, exact, want.data(), n, nullptr, false, &pool2);
    ck::gemm(m, a.data(), k, ranked.coarse, coarse.data(), n, nullptr, false, &pool2);
    ck::RankedCounts counts;
    ck::gemm_ranked(m, a.data(), k, ranked, exact, exact_from, got.data(), n, &pool2, &counts);
    bool tail_exact = true, whole_panels = true, near_top_exact = true, top_exact = true, mass_held = true;
    int rescored_panels = 0, flat_panels = 0;
    for (int i = 0; i < m; ++i) {
      const float* g = got.data() + static_cast<size_t>(i) * n;
      const float* w = want.data() + static_cast<size_t>(i) * n;
      const float* q = coarse.data() + static_cast<size_t>(i) * n;
      for (int j = tail; j < n; ++j) tail_exact = tail_exact && g[j] == w[j];
      const float best = *std::max_element(q, q + tail);
      const float floor = best - ck::rank_margin(a.data() + static_cast<size_t>(i) * k, k, ranked);
      double mass = 0.0, left = 0.0;
      for (int p = 0; p < ranked_panels; ++p) {
        const float *gp = g + p * ck::kPanel, *wp = w + p * ck::kPanel, *qp = q + p * ck::kPanel;
        const bool rescored = std::equal(gp, gp + ck::kPanel, wp);
        whole_panels = whole_panels && (rescored || std::equal(gp, gp + ck::kPanel, qp));
        rescored_panels += rescored;
        if (i == 4) flat_panels += rescored;
        const bool near_top = std::any_of(qp, qp + ck::kPanel, [&](float v) { return v >= floor; });
        near_top_exact = near_top_exact && (!near_top || rescored);
        for (int c = 0; c < ck::kPanel; ++c) {
          const double e = std::exp(static_cast<double>(qp[c]) - best);
          mass += e;
          if (!rescored) left += e;
        }
      }
      const float deviation = (best - floor) / ck::kRankMargin;
      mass_held = mass_held && left / mass * deviation <= ck::kRankTailError;
      const int top = static_cast<int>(std::max_element(w, w + exact_from) - w);
      top_exact = top_exact && static_cast<int>(std::max_element(g, g + exact_from) - g) == top && g[top] == w[top];
    }
    CHECK(tail_exact, "gemm_ranked isa=%s: columns from exact_from's panel on are bf16's", ck::isa_name(isa));
    CHECK(whole_panels, "gemm_ranked isa=%s: each panel is all bf16's or all int8's", ck::isa_name(isa));
    CHECK(near_top_exact, "gemm_ranked isa=%s: panels within the margin of the int8 top are bf16's", ck::isa_name(isa));
    CHECK(mass_held, "gemm_ranked isa=%s: the int8 panels' share of a row's mass, times an error's deviation, is within kRankTailError",
          ck::isa_name(isa));
    CHECK(top_exact, "gemm_ranked isa=%s: each row's top column and score are bf16's", ck::isa_name(isa));
    CHECK(counts.rows == m && counts.panels == rescored_panels && rescored_panels < m * ranked_panels / 2 &&
              flat_panels > ranked_panels / 2,
          "gemm_ranked isa=%s counts %lld panels (%d seen) of %d, %d in the flat row", ck::isa_name(isa), counts.panels,
          rescored_panels, m * ranked_panels, flat_panels);
    // A row alone, and without threads, gets the same scores as in the batch.
    bool alone = true;
    std::vector<float> row(n);
    for (int i = 0; i < m; ++i) {
      ck::gemm_ranked(1, a.data() + static_cast<size_t>(i) * k, k, ranked, exact, exact_from, row.data(), n, nullptr);
      alone = alone && std::equal(row.begin(), row.end(), got.begin() + static_cast<ptrdiff_t>(i) * n);
    }
    CHECK(alone, "gemm_ranked isa=%s: a row's scores do not depend on the rows beside it", ck::isa_name(isa));
    // A zero row has a zero margin (int8 rounds nothing) and a flat top: it must still end.
    std::vector<float> zero(k, 0.0f);
    ck::gemm_ranked(1, zero.data(), k, ranked, exact, exact_from, row.data(), n, &pool2);
    CHECK(std::all_of(row.begin(), row.end(), [](float v) { return v == 0.0f; }), "gemm_ranked isa=%s: a zero row scores 0",
          ck::isa_name(isa));
  }
  ck::force_isa(ck::detect_isa());
  // The margin: kRankMargin deviations of a score's rounding error.
  std::vector<float> unit(k, 0.0f);
  unit[3] = 127.0f;
  const double sd = std::sqrt((1.0 * ranked.column_norm * ranked.column_norm +
                               127.0 * 127.0 * ranked.column_step * ranked.column_step) / 12.0);
  CHECK(std::fabs(ck::rank_margin(unit.data(), k, ranked) - ck::kRankMargin * sd) <= 1e-4 * sd, "rank_margin %g",
        ck::rank_margin(unit.data(), k, ranked));
}

// A row's result must not depend on the rows beside it: decoder steps batch hypotheses and
// each must get the logits it would get alone (bitwise, on every variant and thread count).
void test_lowp_batch_invariance(ck::ThreadPool& pool2) {
  const int m = 101, n = 300, k = 385;  // past a 96-row block of the AVX2 widened panels
  const std::vector<float> a = random_vec(static_cast<size_t>(m) * k), b = random_vec(static_cast<size_t>(n) * k);
  const std::vector<float> bias = random_vec(n);
  for (ck::Precision p : {ck::Precision::Bf16, ck::Precision::Int8}) {
    const ck::Weights w = ck::make_weights(b.data(), n, k, k, p);
    for (ck::Isa isa : available_isas()) {
      ck::force_isa(isa);
      std::vector<float> all(static_cast<size_t>(m) * n), one(n);
      ck::gemm(m, a.data(), k, w, all.data(), n, bias.data(), false, &pool2);
      bool same = true;
      for (int i = 0; i < m; ++i) {
        ck::gemm(1, a.data() + static_cast<size_t>(i) * k, k, w, one.data(), n, bias.data(), false, i % 2 ? &pool2 : nullptr);
        same = same && std::memcmp(one.data(), all.data() + static_cast<size_t>(i) * n, n * sizeof(float)) == 0;
      }
      CHECK(same, "gemm %s isa=%s: a row alone differs from the same row in a batch", ck::precision_name(p), ck::isa_name(isa));
    }
  }
  ck::force_isa(ck::detect_isa());
}

// AMX over the edges of its tiles: rows around the 16-row A tiles and the 32-row micro-tile,
// columns past whole panels, k not a multiple of a tile row's 32 (bf16) or 64 (int8) values,
// so the row, column and k tails all run, with and without bias and accumulation. int8 must
// equal the VNNI variant bit for bit (the same integers through the same epilogue); bf16
// meets the reference with A rounded, like the vdpbf16ps variant. Skipped without AMX.
void test_lowp_amx(ck::ThreadPool& pool2) {
  if (ck::detect_isa() != ck::Isa::Amx) {
    std::printf("AMX tests skipped: detected isa %s\n", ck::isa_name(ck::detect_isa()));
    return;
  }
  // Its own generator: the inputs of the tests after this one must not depend on whether
  // it ran.
  std::mt19937 rng(271828);
  const int ms[] = {1, 3, 15, 16, 17, 33, 100, 1500};
  const int ns[] = {5, 40, 100};
  const int ks[] = {7, 33, 100, 200, 385};
  int combo = 0;
  for (int m : ms) {
    for (int n : ns) {
      for (int k : ks) {
        ++combo;
        const int lda = k + 3, ldb = k + 1, ldc = n + 5;
        std::vector<float> a = random_vec(static_cast<size_t>(m) * lda, -1.0f, 1.0f, rng);
        std::vector<float> b = random_vec(static_cast<size_t>(n) * ldb, -0.2f, 0.2f, rng);
        for (int j = 0; j < n; j += 3) b[static_cast<size_t>(j) * ldb] = 3.0f;
        if (m > 2) std::fill(a.begin() + lda, a.begin() + 2 * lda, 0.0f);
        const std::vector<float> bias = random_vec(n, -1.0f, 1.0f, rng);
        const std::vector<float> c0 = random_vec(static_cast<size_t>(m) * ldc, -1.0f, 1.0f, rng);
        const ck::QuantizedMatrix q8 = ck::quantize_nk(b.data(), n, k, ldb);
        const ck::Bf16Matrix bf = ck::to_bf16_nk(b.data(), n, k, ldb);
        std::vector<float> dot_q8(static_cast<size_t>(m) * ldc), dot_bf(dot_q8.size());
        ck::reference::gemm_q8_nk(m, a.data(), lda, b.data(), ldb, n, k, dot_q8.data(), ldc, nullptr, false);
        ck::reference::gemm_bf16_nk(m, a.data(), lda, b.data(), ldb, n, k, dot_bf.data(), ldc, nullptr, false, true);
        for (int v = 0; v < 4; ++v) {
          const bool use_bias = (v & 1) != 0, accumulate = (v & 2) != 0;
          const float* bp = use_bias ? bias.data() : nullptr;
          ck::ThreadPool* pool = (v + combo) % 2 ? &pool2 : nullptr;
          // The references' bias and accumulation, added in double to their rounded products.
          std::vector<float> ref_q8 = dot_q8, ref_bf = dot_bf;
          for (int i = 0; i < m; ++i) {
            for (int j = 0; j < n; ++j) {
              const size_t at = static_cast<size_t>(i) * ldc + j;
              const double extra = (use_bias ? bias[j] : 0.0) + (accumulate ? c0[at] : 0.0);
              ref_q8[at] = static_cast<float>(ref_q8[at] + extra);
              ref_bf[at] = static_cast<float>(ref_bf[at] + extra);
            }
          }
          std::vector<float> amx = c0, vnni = c0;
          ck::force_isa(ck::Isa::Amx);
          ck::gemm(m, a.data(), lda, q8, amx.data(), ldc, bp, accumulate, pool);
          ck::force_isa(ck::Isa::Avx512Vnni);
          ck::gemm(m, a.data(), lda, q8, vnni.data(), ldc, bp, accumulate, pool);
          const double e8 = worst_error(m, n, amx, ldc, ref_q8, c0, accumulate);
          CHECK(e8 <= 1e-5 && amx == vnni, "gemm int8 amx m=%d n=%d k=%d bias=%d acc=%d: err %g, %s VNNI's", m, n, k,
                use_bias, accumulate, e8, amx == vnni ? "equals" : "differs from");
          amx = c0;
          ck::force_isa(ck::Isa::Amx);
          ck::gemm(m, a.data(), lda, bf, amx.data(), ldc, bp, accumulate, pool);
          const double eb = worst_error(m, n, amx, ldc, ref_bf, c0, accumulate);
          bool pad_ok = true;
          for (int i = 0; i < m; ++i) {
            for (int j = n; j < ldc; ++j) pad_ok = pad_ok && amx[static_cast<size_t>(i) * ldc + j] == c0[static_cast<size_t>(i) * ldc + j];
          }
          CHECK(eb <= 1e-4 * std::sqrt(static_cast<double>(k)) && pad_ok, "gemm bf16 amx m=%d n=%d k=%d bias=%d acc=%d: err %g pad_ok=%d",
                m, n, k, use_bias, accumulate, eb, pad_ok);
        }
      }
    }
  }
  ck::force_isa(ck::detect_isa());
}

void test_thread_pool() {
  for (int threads : {1, 2, 3}) {
    ck::ThreadPool pool(threads);
    CHECK(pool.size() == threads, "pool size %d", pool.size());
    std::vector<std::atomic<int>> hits(257);
    bool ok = true;
    for (int rep = 0; rep < 3000; ++rep) {
      const int count = (rep * 37) % 258;
      for (auto& h : hits) h.store(0, std::memory_order_relaxed);
      pool.parallel_for(count, [&](int i) { hits[i].fetch_add(1, std::memory_order_relaxed); });
      for (int i = 0; i < 257; ++i) ok = ok && hits[i].load() == (i < count ? 1 : 0);
    }
    CHECK(ok, "pool of %d threads ran every index exactly once", threads);
  }
}

void test_layer_norm(const char* isa) {
  for (int dim : {1, 2, 7, 16, 17, 384, 1000, 1280}) {
    for (bool affine : {false, true}) {
      const int rows = 3;
      std::vector<float> x = random_vec(static_cast<size_t>(rows) * dim, 3.0f, 7.0f);
      std::vector<float> gamma = random_vec(dim, 0.5f, 1.5f), beta = random_vec(dim);
      std::vector<float> got(x.size()), want(x.size());
      const float* g = affine ? gamma.data() : nullptr;
      const float* b = affine ? beta.data() : nullptr;
      ck::layer_norm(x.data(), got.data(), rows, dim, g, b, 1e-5f);
      ck::reference::layer_norm(x.data(), want.data(), rows, dim, g, b, 1e-5f);
      double worst = 0.0;
      for (size_t i = 0; i < x.size(); ++i) worst = std::fmax(worst, std::fabs(got[i] - want[i]) / (1.0 + std::fabs(want[i])));
      CHECK(worst < 2e-5, "layer_norm isa=%s dim=%d affine=%d err %g", isa, dim, affine, worst);
    }
  }
}

void test_gelu(const char* isa) {
  std::vector<float> x;
  for (int i = 0; i <= 24000; ++i) x.push_back(-12.0f + i * 0.001f);
  for (float v : random_vec(1003, -6.0f, 6.0f)) x.push_back(v);
  x.push_back(0.0f);
  x.push_back(-0.0f);
  x.push_back(1e-20f);
  x.push_back(50.0f);
  x.push_back(-50.0f);
  for (size_t count : {x.size(), size_t{1}, size_t{5}, size_t{23}}) {
    std::vector<float> got(x.begin(), x.begin() + count), want = got;
    ck::gelu(got.data(), count);
    ck::reference::gelu(want.data(), count);
    double worst = 0.0;
    for (size_t i = 0; i < count; ++i) {
      worst = std::fmax(worst, std::fabs(got[i] - want[i]) / std::fmax(1.0, std::fabs(x[i])));
    }
    CHECK(worst < 1e-6, "gelu isa=%s count=%zu err %g", isa, count, worst);
  }
}

void test_softmax(const char* isa) {
  const float inf = std::numeric_limits<float>::infinity();
  for (int cols : {1, 3, 16, 17, 100, 1500}) {
    const int rows = 5, ld = cols + 5;
    std::vector<float> x = random_vec(static_cast<size_t>(rows) * ld, -20.0f, 20.0f);
    for (int r = 0; r < rows; ++r) {
      for (int j = cols; j < ld; ++j) x[static_cast<size_t>(r) * ld + j] = kSentinel;
      // Causal-mask style -inf entries, never the whole row.
      for (int j = 1; j < cols; j += 3) {
        if (r % 2) x[static_cast<size_t>(r) * ld + j] = -inf;
      }
    }
    x[0] = 80.0f;  // large logits must not overflow
    std::vector<float> got = x, want = x;
    ck::softmax_rows(got.data(), rows, cols, ld);
    ck::reference::softmax_rows(want.data(), rows, cols, ld);
    double worst = 0.0;
    bool pad_ok = true;
    for (int r = 0; r < rows; ++r) {
      for (int j = 0; j < ld; ++j) {
        const size_t at = static_cast<size_t>(r) * ld + j;
        if (j >= cols) {
          pad_ok = pad_ok && got[at] == kSentinel;
        } else {
          const double err = std::fabs(got[at] - want[at]) / (1e-6 + std::fabs(want[at]));
          if (!(err <= worst)) worst = err;
        }
      }
    }
    CHECK(worst < 1e-5 && pad_ok, "softmax isa=%s cols=%d rel err %g pad_ok=%d", isa, cols, worst, pad_ok);
  }
}

void test_add(const char* isa) {
  for (size_t count : {size_t{1}, size_t{16}, size_t{37}, size_t{1000}}) {
    std::vector<float> y = random_vec(count), x = random_vec(count), want = y;
    for (size_t i = 0; i < count; ++i) want[i] += x[i];
    ck::add_inplace(y.data(), x.data(), count);
    CHECK(y == want, "add_inplace isa=%s count=%zu", isa, count);
  }
}


// ---- FFT ----

// Frames of x at hop, each checked bin by bin against the double DFT of the windowed frame;
// errors are relative to the frame's L2 norm, the natural scale of an FFT's rounding.
void check_stft(int n, int hop, int frames, bool use_window, const std::vector<float>& x, ck::ThreadPool* pool,
                const char* isa, const char* what, int check_every = 1) {
  const ck::FftPlan plan = ck::make_fft_plan(n);
  const int bins = n / 2 + 1, ld = frames + 3;
  const std::vector<float> window = random_vec(n, 0.0f, 1.0f);
  std::vector<float> re(static_cast<size_t>(bins) * ld, kSentinel), im = re, power = re;
  ck::stft(plan, x.data(), hop, frames, use_window ? window.data() : nullptr, re.data(), im.data(), ld, pool);
  ck::stft_power(plan, x.data(), hop, frames, use_window ? window.data() : nullptr, power.data(), ld, pool);
  std::vector<float> frame(n);
  std::vector<double> want_re(bins), want_im(bins);
  double worst = 0.0, worst_power = 0.0;
  bool pad_ok = true;
  for (int f = 0; f < frames; f += check_every) {
    double norm = 0.0;
    for (int t = 0; t < n; ++t) {
      frame[t] = x[static_cast<size_t>(f) * hop + t] * (use_window ? window[t] : 1.0f);
      norm += static_cast<double>(frame[t]) * frame[t];
    }
    norm = std::sqrt(norm) + 1e-30;
    ck::reference::real_dft(frame.data(), n, want_re.data(), want_im.data());
    for (int b = 0; b < bins; ++b) {
      const size_t at = static_cast<size_t>(b) * ld + f;
      const double err = std::hypot(re[at] - want_re[b], im[at] - want_im[b]) / norm;
      if (!(err <= worst)) worst = err;
      const double p = want_re[b] * want_re[b] + want_im[b] * want_im[b];
      const double perr = std::fabs(power[at] - p) / (norm * norm);
      if (!(perr <= worst_power)) worst_power = perr;
    }
  }
  for (int b = 0; b < bins; ++b) {
    for (int f = frames; f < ld; ++f) {
      const size_t at = static_cast<size_t>(b) * ld + f;
      pad_ok = pad_ok && re[at] == kSentinel && im[at] == kSentinel && power[at] == kSentinel;
    }
  }
  // fp32 rounding grows like log2(n) per element for a well-conditioned FFT.
  const double tol = 2e-7 * (std::log2(static_cast<double>(n)) + 4.0);
  CHECK(worst <= tol && worst_power <= 2 * tol && pad_ok,
        "stft %s isa=%s n=%d hop=%d frames=%d window=%d threads=%d: err %g power err %g (tol %g) pad_ok=%d", what, isa,
        n, hop, frames, use_window, pool ? pool->size() : 0, worst, worst_power, tol, pad_ok);
}

void test_fft(const char* isa, ck::ThreadPool& pool2) {
  // Even sizes whose half is 1, a power of two, 2^a 3^b 5^c, or has a prime above 5
  // (the generic stage, including one larger than its 16-entry register buffer).
  for (int n : {2, 4, 6, 8, 10, 14, 18, 22, 30, 34, 64, 98, 120, 250, 256, 400, 420, 512}) {
    for (int frames : {1, 5, 17, 40}) {
      const int hop = n / 2 + (frames % 3);
      const std::vector<float> x = random_vec(static_cast<size_t>(frames - 1) * hop + n);
      check_stft(n, hop, frames, frames % 2 == 1, x, frames == 40 ? &pool2 : nullptr, isa, "random");
    }
  }
  // The Whisper shape: 3000 frames of 400 at hop 160, split across the pool.
  const std::vector<float> speech = random_vec(2999 * 160 + 400);
  // The double DFT is slow, so only every 7th frame is compared (still every lane position).
  check_stft(400, 160, 3000, true, speech, &pool2, isa, "whisper", 7);

  // A pure tone on bin b0: all its energy in that bin, (n / 2)^2, and none elsewhere.
  for (int n : {400, 30, 22}) {
    for (int b0 : {0, 1, 7, n / 2}) {
      std::vector<float> x(n);
      for (int t = 0; t < n; ++t) x[t] = static_cast<float>(std::cos(2.0 * M_PI * ((static_cast<long>(b0) * t) % n) / n));
      const ck::FftPlan plan = ck::make_fft_plan(n);
      std::vector<float> power(n / 2 + 1);
      ck::stft_power(plan, x.data(), n, 1, nullptr, power.data(), 1, nullptr);
      const double peak = (b0 == 0 || b0 == n / 2) ? double(n) * n : double(n) * n / 4.0;
      double leak = 0.0;
      for (int b = 0; b <= n / 2; ++b) {
        if (b != b0) leak = std::fmax(leak, power[b] / peak);
      }
      CHECK(std::fabs(power[b0] / peak - 1.0) < 1e-5 && leak < 1e-10, "stft tone isa=%s n=%d bin=%d: peak %g want %g leak %g",
            isa, n, b0, power[b0], peak, leak);
    }
  }
}

void test_fft_plan() {
  bool threw = false;
  try {
    ck::make_fft_plan(401);
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK(threw, "make_fft_plan rejects odd sizes");
  const ck::FftPlan p = ck::make_fft_plan(400);
  CHECK(p.radices == std::vector<int>({4, 2, 5, 5}), "n=400 factors into radix 4, 2, 5, 5");
}

// ---- fp16 and attention ----

float half_value(ck::Half h) {
  float f;
  ck::from_f16(&h, 1, 1, 1, &f, 1);
  return f;
}

void test_f16(const char* isa) {
  // Every finite half survives half -> float -> half, and the float is the exact value.
  std::vector<ck::Half> all(65536);
  for (int i = 0; i < 65536; ++i) all[i] = static_cast<ck::Half>(i);
  std::vector<float> values(65536);
  ck::from_f16(all.data(), 65536, 1, 65536, values.data(), 65536);
  std::vector<ck::Half> back(65536);
  ck::to_f16(values.data(), 65536, 1, 65536, back.data(), 65536);
  bool round_trip = true, exact = true;
  for (int i = 0; i < 65536; ++i) {
    const int exp = (i >> 10) & 0x1f, mant = i & 0x3ff;
    if (exp == 0x1f && mant != 0) {
      round_trip = round_trip && std::isnan(values[i]) && (back[i] & 0x7c00) == 0x7c00 && (back[i] & 0x3ff) != 0;
      continue;
    }
    round_trip = round_trip && back[i] == all[i];
    const double magnitude = exp == 0x1f ? INFINITY : (exp == 0 ? mant * std::ldexp(1.0, -24) : (1024 + mant) * std::ldexp(1.0, exp - 25));
    exact = exact && static_cast<double>(values[i]) == ((i & 0x8000) ? -magnitude : magnitude);
  }
  CHECK(round_trip && exact, "f16 isa=%s: every half round-trips (%d) and converts exactly (%d)", isa, round_trip, exact);

  // Floats round to the nearest half, ties to the even one: random values across the whole
  // range plus the edges (overflow threshold, subnormals, the 2^-25 tie).
  std::vector<float> x;
  std::uniform_int_distribution<uint32_t> bits(0, 0xffffffffu);
  for (int i = 0; i < 200000; ++i) {
    uint32_t b = bits(g_rng);
    // Bias towards the half range: exponent field 100 .. 145.
    b = (b & 0x807fffffu) | ((100u + (b >> 23) % 46u) << 23);
    float f;
    std::memcpy(&f, &b, sizeof f);
    x.push_back(f);
  }
  for (float f : {0.0f, -0.0f, 65504.0f, 65519.99f, 65520.0f, 1e6f, -1e6f, 5.9604645e-8f, 2.9802322e-8f, 2.98023259e-8f,
                  2.9802320e-8f, 1e-10f, 6.1035156e-5f, 6.1035152e-5f, 1.0f + 1.0f / 2048.0f, 1.0f + 3.0f / 2048.0f}) {
    x.push_back(f);
  }
  // Exact ties between neighbouring halves.
  for (int h = 1; h < 0x7bff; h += 97) x.push_back(static_cast<float>((static_cast<double>(half_value(h)) + half_value(h + 1)) / 2.0));
  std::vector<ck::Half> got(x.size());
  ck::to_f16(x.data(), static_cast<int>(x.size()), 1, static_cast<int>(x.size()), got.data(), static_cast<int>(x.size()));
  bool nearest = true;
  size_t bad = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i], a = std::fabs(v);
    const ck::Half h = got[i];
    bool ok;
    if (a >= 65520.0) {
      ok = (h & 0x7fff) == 0x7c00;
    } else {
      const int mag = h & 0x7fff;
      const double here = std::fabs(static_cast<double>(half_value(static_cast<ck::Half>(mag))));
      const double err = std::fabs(here - a);
      const double below = mag > 0 ? std::fabs(static_cast<double>(half_value(static_cast<ck::Half>(mag - 1))) - a) : INFINITY;
      const double above = std::fabs(static_cast<double>(half_value(static_cast<ck::Half>(mag + 1))) - a);
      ok = ((h & 0x8000) != 0) == std::signbit(x[i]) && err <= below && err <= above &&
           ((err != below && err != above) || (mag & 1) == 0);
    }
    if (!ok && bad++ == 0) std::printf("  first bad f16: %.9g -> 0x%04x\n", x[i], h);
    nearest = nearest && ok;
  }
  CHECK(nearest, "to_f16 isa=%s rounds to nearest even (%zu bad of %zu)", isa, bad, x.size());

  // Strided 2-D conversion leaves the row padding alone.
  std::vector<float> m = random_vec(3 * 21);
  std::vector<ck::Half> out(3 * 24, 0xabcd);
  ck::to_f16(m.data(), 21, 3, 19, out.data(), 24);
  bool strided = true;
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 24; ++c) {
      const ck::Half h = out[r * 24 + c];
      strided = strided && (c < 19 ? std::fabs(half_value(h) - m[r * 21 + c]) <= std::fabs(m[r * 21 + c]) * 0x1p-11f : h == 0xabcd);
    }
  }
  CHECK(strided, "to_f16 isa=%s strided rows", isa);
}

void test_pack_keys(const char* isa) {
  for (int hd : {64, 7}) {
    const int t = 53;
    std::vector<float> k = random_vec(static_cast<size_t>(t) * (hd + 2));
    std::vector<ck::Half> panels(ck::key_panels_size(t, hd), 0xffff);
    // Written in uneven pieces, as a growing cache is: one prompt, then single tokens.
    int t0 = 0;
    for (int count : {19, 1, 1, 13, 3, 16}) {
      ck::pack_keys_f16(k.data() + static_cast<size_t>(t0) * (hd + 2), hd + 2, count, hd, panels.data(), t0);
      t0 += count;
    }
    bool ok = t0 == t && panels.size() == static_cast<size_t>(64) * hd;
    for (int j = 0; j < t; ++j) {
      for (int d = 0; d < hd; ++d) {
        const ck::Half h = panels[static_cast<size_t>(j / 16) * hd * 16 + d * 16 + j % 16];
        ck::Half want;
        ck::to_f16(&k[static_cast<size_t>(j) * (hd + 2) + d], 1, 1, 1, &want, 1);
        ok = ok && h == want;
      }
    }
    for (int j = t; j < 64; ++j) ok = ok && panels[static_cast<size_t>(j / 16) * hd * 16 + j % 16] == 0xffff;
    CHECK(ok, "pack_keys_f16 isa=%s head_dim=%d", isa, hd);
  }
}

void test_attention(const char* isa) {
  const ck::Half kNanHalf = 0x7e00;
  for (int hd : {64, 16, 40, 3}) {
    for (int t : {1, 5, 17, 33, 100, 449, 1500}) {
      for (int n : {1, 2, 3, 4, 5, 9}) {
        for (bool causal : {false, true}) {
          if (causal && t < n) continue;
          if (t == 1500 && hd != 64 && n > 2) continue;
          // Typical decoder magnitudes (scores of a few units), or peaky scores that make the
          // softmax one-hot, to check the max subtraction.
          const bool peaky = (t + n) % 5 == 0;
          const float scale = peaky ? 1.0f : 1.0f / std::sqrt(static_cast<float>(hd));
          const int ldq = hd + 3, ldk = hd + 1, ldv = hd + 5, ldo = hd + 2;
          std::vector<float> q = random_vec(static_cast<size_t>(n) * ldq, peaky ? -3.0f : -2.0f, peaky ? 3.0f : 2.0f);
          std::vector<float> k = random_vec(static_cast<size_t>(t) * ldk, -2.0f, 2.0f);
          std::vector<float> v = random_vec(static_cast<size_t>(t) * ldv, -2.0f, 2.0f);
          // Panel lanes past t hold NaN: a kernel that let them into a result would fail.
          std::vector<ck::Half> kp(ck::key_panels_size(t, hd), kNanHalf), vh(static_cast<size_t>(t) * ldv, kNanHalf);
          ck::pack_keys_f16(k.data(), ldk, t, hd, kp.data(), 0);
          ck::to_f16(v.data(), ldv, t, hd, vh.data(), ldv);
          // The reference sees the same fp16-rounded keys and values.
          std::vector<float> kr(static_cast<size_t>(t) * ldk), vr(static_cast<size_t>(t) * ldv);
          for (int j = 0; j < t; ++j) {
            for (int d = 0; d < hd; ++d) {
              kr[static_cast<size_t>(j) * ldk + d] = half_value(kp[static_cast<size_t>(j / 16) * hd * 16 + d * 16 + j % 16]);
              vr[static_cast<size_t>(j) * ldv + d] = half_value(vh[static_cast<size_t>(j) * ldv + d]);
            }
          }
          std::vector<float> want(static_cast<size_t>(n) * ldo), want_w(t), exact(static_cast<size_t>(n) * ldo);
          ck::reference::attention(n, q.data(), ldq, kr.data(), ldk, vr.data(), ldv, t, hd, scale, causal, want.data(), ldo,
                                   want_w.data());
          ck::reference::attention(n, q.data(), ldq, k.data(), ldk, v.data(), ldv, t, hd, scale, causal, exact.data(), ldo,
                                   nullptr);
          std::vector<float> out(static_cast<size_t>(n) * ldo, kSentinel), weights(t + 1, kSentinel);
          std::vector<float> scratch(ck::attention_scratch_size(n, t, hd), 7.0f);
          ck::AttentionF16 a;
          a.n = n;
          a.q = q.data();
          a.ldq = ldq;
          a.k = kp.data();
          a.v = vh.data();
          a.ldv = ldv;
          a.t = t;
          a.head_dim = hd;
          a.scale = scale;
          a.causal = causal;
          a.out = out.data();
          a.ldo = ldo;
          a.scratch = scratch.data();
          a.last_weights = (n + t) % 2 ? weights.data() : nullptr;
          ck::attention_f16(a);
          double worst = 0.0, worst_w = 0.0, worst_exact = 0.0;
          bool pad_ok = weights[t] == kSentinel;
          for (int i = 0; i < n; ++i) {
            for (int d = 0; d < ldo; ++d) {
              const size_t at = static_cast<size_t>(i) * ldo + d;
              if (d >= hd) {
                pad_ok = pad_ok && out[at] == kSentinel;
                continue;
              }
              const double err = std::fabs(out[at] - want[at]);
              if (!(err <= worst)) worst = err;
              const double err_exact = std::fabs(out[at] - exact[at]);
              if (!(err_exact <= worst_exact)) worst_exact = err_exact;
            }
          }
          if (a.last_weights) {
            for (int j = 0; j < t; ++j) {
              const double err = std::fabs(weights[j] - want_w[j]);
              if (!(err <= worst_w)) worst_w = err;
            }
          }
          // Against the same fp16 inputs: fp32 accumulation and the vector exp only. Against
          // the fp32 inputs: also the fp16 rounding of K and V (relative 2^-11 each, which
          // moves the scores by up to |q| |k| 2^-11 and the outputs by about 2^-11 |v|).
          const double tol = 2e-5 * (peaky ? 4.0 : 1.0);
          const double tol_exact = 3e-3 * (peaky ? 16.0 : 1.0);
          CHECK(worst <= tol && worst_w <= tol && worst_exact <= tol_exact && pad_ok,
                "attention isa=%s hd=%d t=%d n=%d causal=%d peaky=%d: err %g weights err %g vs fp32 %g pad_ok=%d", isa, hd,
                t, n, causal, peaky, worst, worst_w, worst_exact, pad_ok);
        }
      }
    }
  }
}

// ---- Logit reductions ----

// Rows shaped like a decoder step's logits, in several patterns: plain, sprinkled and
// range-wide -inf masks (Whisper's filters), heavy ties (first occurrence must win), a large
// offset (stability), ascending values (every element a new max / a new top-k entry).
std::vector<float> logit_row(int n, int split, int pattern) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> x = random_vec(n, -15.0f, 15.0f);
  switch (pattern) {
    case 1:
      for (int i = 0; i < n; i += 3) x[i] = -inf;
      break;
    case 2:
      std::fill(x.begin(), x.begin() + split, -inf);
      break;
    case 3:
      std::fill(x.begin() + split, x.end(), -inf);
      break;
    case 4:
      std::fill(x.begin(), x.end(), -inf);
      break;
    case 5:
      for (float& v : x) v = std::round(v / 5.0f);
      break;
    case 6:
      for (float& v : x) v += 1000.0f;
      break;
    case 7:
      for (int i = 0; i < n; ++i) x[i] = -20.0f + 40.0f * i / n;
      break;
    default:
      break;
  }
  return x;
}

constexpr int kLogitPatterns = 8;

void test_logit_stats(const char* isa) {
  const int lengths[] = {0, 1, 2, 7, 15, 16, 17, 31, 33, 100, 511, 512, 513, 1025, 4099, 51864, 51865};
  double worst = 0.0;
  int cases = 0;
  char first_wrong[160] = "none";
  for (int n : lengths) {
    for (int split : {0, 1, n / 3, n - 1, n, n > 51000 ? 50363 : n / 2}) {
      if (split < 0 || split > n) continue;
      for (int pattern = 0; pattern < kLogitPatterns; ++pattern) {
        const std::vector<float> x = logit_row(n, split, pattern);
        ck::RangeStats got[2], want[2];
        ck::logit_stats(x.data(), n, split, &got[0], &got[1]);
        ck::reference::logit_stats(x.data(), n, split, &want[0], &want[1]);
        for (int r = 0; r < 2; ++r) {
          ++cases;
          const bool same = got[r].max == want[r].max && got[r].argmax == want[r].argmax;
          const bool both_empty = std::isinf(want[r].log_sum_exp) && got[r].log_sum_exp == want[r].log_sum_exp;
          const double err = both_empty ? 0.0 : std::fabs(got[r].log_sum_exp - want[r].log_sum_exp);
          if (!same && std::strcmp(first_wrong, "none") == 0) {
            std::snprintf(first_wrong, sizeof first_wrong, "n=%d split=%d pattern=%d range=%d: max %g at %d, want %g at %d",
                          n, split, pattern, r, got[r].max, got[r].argmax, want[r].max, want[r].argmax);
          }
          if (!(err <= worst)) worst = err;
        }
      }
    }
  }
  // Float exp (about 2 ulp) and float partial sums of at most 128 terms, added in double.
  CHECK(std::strcmp(first_wrong, "none") == 0 && worst <= 2e-6,
        "logit_stats isa=%s over %d ranges: log-sum-exp err %g, first wrong max/argmax: %s", isa, cases, worst, first_wrong);

  bool threw = false;
  try {
    ck::RangeStats a, b;
    const float one = 1.0f;
    ck::logit_stats(&one, 1, 2, &a, &b);
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK(threw, "logit_stats rejects a split past the row");
}

void test_top_k(const char* isa) {
  const int lengths[] = {0, 1, 2, 5, 16, 17, 63, 64, 65, 100, 1000, 51864};
  int cases = 0;
  char first_wrong[160] = "none";
  for (int n : lengths) {
    for (int k : {1, 2, 5, 6, 16, 17}) {
      for (int pattern = 0; pattern < kLogitPatterns + 2; ++pattern) {
        std::vector<float> x;
        if (pattern < kLogitPatterns) {
          x = logit_row(n, n / 2, pattern);
        } else {
          // Fewer finite values than k among -inf; then all equal.
          x.assign(n, pattern == kLogitPatterns ? -std::numeric_limits<float>::infinity() : 3.0f);
          if (pattern == kLogitPatterns) {
            for (int i = n / 3; i < n; i += std::max(1, n / 3)) x[i] = static_cast<float>(i % 5);
          }
        }
        std::vector<int> got(k + 1, -7), want(k + 1, -7);
        const int count = ck::top_k(x.data(), n, k, got.data());
        const int want_count = ck::reference::top_k(x.data(), n, k, want.data());
        ++cases;
        if ((count != want_count || got != want) && std::strcmp(first_wrong, "none") == 0) {
          std::snprintf(first_wrong, sizeof first_wrong, "n=%d k=%d pattern=%d: count %d want %d, first %d want %d", n, k,
                        pattern, count, want_count, count > 0 ? got[0] : -1, want_count > 0 ? want[0] : -1);
        }
      }
    }
  }
  CHECK(std::strcmp(first_wrong, "none") == 0, "top_k isa=%s: %d cases against the stable sort, first wrong: %s", isa, cases,
        first_wrong);
}

// ---- Convolution stem ----

void test_conv1d_k3() {
  const float inf = std::numeric_limits<float>::infinity();
  int cases = 0;
  bool cols_ok = true, product_ok = true;
  double worst = 0.0;
  for (int channels : {1, 3, 17, 80}) {
    for (int frames : {1, 2, 3, 8, 31}) {
      for (int stride : {1, 2}) {
        const int outputs = (frames - 1) / stride + 1;
        // The whole output, and a streaming window's later frames from a signal stored
        // only from the first frame they read.
        for (int f0 : {0, outputs / 2}) {
          const int first = std::max(0, stride * f0 - 1);
          const int stored = frames - first;
          for (bool frame_major : {false, true}) {
            ++cases;
            // Padding between rows and channels holds inf, so reading it would show.
            const ptrdiff_t channel_stride = frame_major ? 1 : stored + 2;
            const ptrdiff_t frame_stride = frame_major ? channels + 3 : 1;
            std::vector<float> data(static_cast<size_t>(channels) * (stored + 2) + static_cast<size_t>(stored) * (channels + 3), inf);
            const ck::Conv1dInput x{data.data(), channels, frames, first, channel_stride, frame_stride};
            for (int c = 0; c < channels; ++c) {
              for (int t = first; t < frames; ++t) data[c * channel_stride + (t - first) * frame_stride] = random_vec(1)[0];
            }
            const int rows = outputs - f0, k = channels * 3, ldc = k + 2;
            std::vector<float> cols(static_cast<size_t>(rows) * ldc, kSentinel);
            ck::conv1d_k3_cols(x, stride, f0, outputs, cols.data(), ldc);
            for (int r = 0; r < rows; ++r) {
              for (int j = 0; j < ldc; ++j) {
                const float v = cols[static_cast<size_t>(r) * ldc + j];
                if (j >= k) {
                  cols_ok = cols_ok && v == kSentinel;
                  continue;
                }
                const int t = stride * (f0 + r) + j % 3 - 1;
                const float want = t < 0 || t >= frames ? 0.0f : data[(j / 3) * channel_stride + (t - first) * frame_stride];
                cols_ok = cols_ok && v == want;
              }
            }

            const int out_channels = 5;
            const std::vector<float> w = random_vec(static_cast<size_t>(out_channels) * k), bias = random_vec(out_channels);
            std::vector<float> y(static_cast<size_t>(rows) * out_channels), want(y.size());
            const ck::Weights weights = ck::make_weights(w.data(), out_channels, k, k, ck::Precision::Fp32);
            ck::gemm(rows, cols.data(), ldc, weights, y.data(), out_channels, bias.data(), false, nullptr);
            ck::reference::conv1d_k3(x, stride, f0, outputs, w.data(), bias.data(), out_channels, want.data(), out_channels);
            for (size_t i = 0; i < y.size(); ++i) {
              const double err = std::fabs(y[i] - want[i]) / (1.0 + std::fabs(want[i]));
              if (!(err <= worst)) worst = err;
            }
            product_ok = product_ok && worst <= 1e-4 * std::sqrt(static_cast<double>(k));
          }
        }
      }
    }
  }
  CHECK(cols_ok, "conv1d_k3_cols: %d cases, columns are the zero-padded taps in (channel, tap) order", cases);
  CHECK(product_ok, "conv1d_k3_cols then gemm against the direct convolution: err %g", worst);

  bool threw = false;
  try {
    std::vector<float> data(20);
    ck::conv1d_k3_cols({data.data(), 2, 12, 4, 1, 2}, 2, 2, 4, data.data(), 6);
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK(threw, "conv1d_k3_cols rejects a tap before the first stored frame");
}

// The weight variants the detected isa runs; on aarch64 the NEON ones, not the portable
// fallback (CHORUS_ISA=neon-nodotprod, or a CPU without dotprod, gives int8 without sdot).
void test_weight_variants() {
  const char* int8 = ck::weights_variant(ck::Precision::Int8, 1);
  const char* bf16 = ck::weights_variant(ck::Precision::Bf16, 1);
  std::printf("weight variants at %s: %s (m = 1), %s (m = 64), %s\n", ck::isa_name(ck::active_isa()), int8,
              ck::weights_variant(ck::Precision::Int8, 64), bf16);
  if (ck::active_isa() == ck::Isa::Neon) {
    CHECK((std::strcmp(int8, "int8-neon-sdot") == 0 || std::strcmp(int8, "int8-neon") == 0) &&
              std::strcmp(bf16, "bf16-neon") == 0,
          "neon runs the NEON weight kernels: %s, %s", int8, bf16);
  }
  CHECK(std::strcmp(int8, "unknown") != 0 && std::strcmp(bf16, "unknown") != 0, "weights_variant names %s, %s", int8, bf16);
}

}  // namespace

// No argument runs every test; --weights only the int8 and bf16 weight products.
int main(int argc, char** argv) {
  std::printf("detected isa: %s\n", ck::isa_name(ck::detect_isa()));
  const bool weights_only = argc > 1 && std::strcmp(argv[1], "--weights") == 0;
  ck::ThreadPool pool1(1), pool2(2);
  test_weight_variants();
  if (!weights_only) {
    test_thread_pool();
    test_gemm_edges(pool2);
    test_gemm(pool1, pool2);
  }
  test_lowp(pool1, pool2);
  test_weights(pool2);
  test_ranked(pool2);
  test_lowp_batch_invariance(pool2);
  test_lowp_amx(pool2);
  if (weights_only) {
    std::printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
  }
  for (ck::Isa isa : available_isas()) {
    ck::force_isa(isa);
    CHECK(ck::active_isa() == isa, "force_isa(%s)", ck::isa_name(isa));
    test_layer_norm(ck::isa_name(isa));
    test_gelu(ck::isa_name(isa));
    test_softmax(ck::isa_name(isa));
    test_add(ck::isa_name(isa));
    test_fft(ck::isa_name(isa), pool2);
    test_f16(ck::isa_name(isa));
    test_pack_keys(ck::isa_name(isa));
    test_attention(ck::isa_name(isa));
    test_logit_stats(ck::isa_name(isa));
    test_top_k(ck::isa_name(isa));
  }
  test_conv1d_k3();
  test_fft_plan();
  ck::force_isa(ck::detect_isa());
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
