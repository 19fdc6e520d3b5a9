// Kernel correctness: every compiled instruction-set variant against the reference loops.
#include <atomic>
#include <cmath>
#include <cstdio>
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
    test_fft(ck::isa_name(isa), pool2);
    test_f16(ck::isa_name(isa));
    test_pack_keys(ck::isa_name(isa));
    test_attention(ck::isa_name(isa));
  }
  test_fft_plan();
  ck::force_isa(ck::detect_isa());
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
