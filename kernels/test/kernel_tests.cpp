// Kernel correctness: every compiled instruction-set variant against the reference loops.
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
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

std::vector<float> random_vec(size_t n, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(g_rng);
  return v;
}

std::vector<ck::Isa> available_isas() {
  std::vector<ck::Isa> out;
  for (ck::Isa isa : {ck::Isa::Scalar, ck::Isa::Avx2, ck::Isa::Avx512}) {
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

}  // namespace

int main() {
  std::printf("detected isa: %s\n", ck::isa_name(ck::detect_isa()));
  ck::ThreadPool pool1(1), pool2(2);
  test_thread_pool();
  test_gemm_edges(pool2);
  test_gemm(pool1, pool2);
  for (ck::Isa isa : available_isas()) {
    ck::force_isa(isa);
    CHECK(ck::active_isa() == isa, "force_isa(%s)", ck::isa_name(isa));
    test_layer_norm(ck::isa_name(isa));
    test_gelu(ck::isa_name(isa));
    test_softmax(ck::isa_name(isa));
    test_add(ck::isa_name(isa));
  }
  ck::force_isa(ck::detect_isa());
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
