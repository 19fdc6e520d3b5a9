// Chorus's gemm against OpenBLAS and oneDNN at Whisper's linear-layer shapes, in one process,
// on the same number of threads (2 by default). Benchmark only: the product never links
// either library; CMake builds this target only when it finds them (CHORUS_BENCH_OPENBLAS,
// CHORUS_BENCH_SBGEMM, CHORUS_BENCH_DNNL).
//
// Every product is C[m][n] = bias[n] + A[m][k] * W^T with W given as [n][k] rows (a
// PyTorch Linear weight). Weights are packed / reordered once, outside the timed loop; the
// work a caller would do on each call (rounding or quantising A, filling C with the bias for
// sgemm) is timed. Contenders run in blocks (one warm-up call, then calls for at least
// --block-ms and 3 calls, each call timed) interleaved in rounds, the order rotated each
// round, so load from other processes spreads over all of them. Two figures per contender,
// each the median over rounds: the median call of a block (the kernel's speed) and the mean
// call of a block (which includes stalls: a fork-join library whose second thread is
// descheduled waits for it). Ratios are library ms / Chorus ms of the same precision: above
// 1 means Chorus is faster.
//
//   library_bench [--model tiny|base|all] [--rounds N] [--threads N] [--block-ms X] [--only NAME]
//                 [--cold-mb MB]   (decoder steps cycle through MB of weight copies; 0: hot, 32 default)
//
// ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16 keeps oneDNN off AMX (same instructions as Chorus).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "chorus/kernels.h"

#ifdef CHORUS_BENCH_OPENBLAS
#include <cblas.h>
#endif
#ifdef CHORUS_BENCH_DNNL
#include "oneapi/dnnl/dnnl.hpp"
#endif
#ifdef CHORUS_BENCH_OMP
#include <omp.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CHORUS_BENCH_X86 1
#endif

namespace ck = chorus::kernels;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<float> random_vec(size_t n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string loadavg() {
  FILE* f = std::fopen("/proc/loadavg", "r");
  if (!f) return "?";
  char buf[128] = {0};
  if (!std::fgets(buf, sizeof buf, f)) buf[0] = 0;
  std::fclose(f);
  std::string s(buf);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// max |x| over n floats (the per-call scale of a per-tensor int8 quantisation of A).
#ifdef CHORUS_BENCH_X86
__attribute__((target("avx512f"))) float max_abs_avx512(const float* x, size_t n) {
  __m512 m = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + i)));
  float r = _mm512_reduce_max_ps(m);
  for (; i < n; ++i) r = std::max(r, std::fabs(x[i]));
  return r;
}
#endif
float max_abs(const float* x, size_t n) {
#ifdef CHORUS_BENCH_X86
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512) return max_abs_avx512(x, n);
#endif
  float r = 0.0f;
  for (size_t i = 0; i < n; ++i) r = std::max(r, std::fabs(x[i]));
  return r;
}

// Normwise relative difference: max |c - ref| / max |ref|.
double rel_err(const std::vector<float>& c, const std::vector<float>& ref) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    num = std::max(num, std::fabs(double(c[i]) - double(ref[i])));
    den = std::max(den, std::fabs(double(ref[i])));
  }
  return den > 0 ? num / den : num;
}

struct Contender {
  std::string name;
  std::string precision;  // fp32, bf16, int8: the Chorus column it is compared with
  double settle_s = 0.0;  // sleep after each block so this library's spinning threads park
  std::function<void()> run;
  std::string impl;       // oneDNN's implementation name, printed with the row
  std::vector<float> c;   // its output, checked against Chorus fp32
  std::vector<double> ms;       // median call of each block
  std::vector<double> mean_ms;  // mean call of each block, stalls included
  static double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    if (v.empty()) return 0.0;
    return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
  }
};

struct Row {
  std::string model, shape;
  int m, n, k;
  std::vector<std::pair<std::string, double>> ms;    // name -> median over blocks of the median call
  std::vector<std::pair<std::string, double>> mean;  // name -> median over blocks of the mean call
  std::vector<std::pair<std::string, double>> err;  // name -> rel err vs Chorus fp32
  std::vector<std::string> impl;
};

struct Options {
  std::string model = "all";
  int rounds = 7;
  int threads = 2;
  double block_ms = 15.0;
  std::string only;  // run only the Chorus contenders and those whose name contains this
  // Decoder steps (m <= 32) cycle through copies of the weights, about this many MB of fp32
  // in all, so that they come from L3 or memory as in the engine (a step reads every layer)
  // rather than from the L2 a hot loop over one small matrix would leave them in. 0: off.
  int cold_mb = 32;
};

#ifdef CHORUS_BENCH_DNNL
namespace dn = dnnl;
using dt = dn::memory::data_type;
using tag = dn::memory::format_tag;
std::set<std::string> g_dnnl_impls;  // implementation names seen (ISA, AMX or not)
#endif

class Bench {
 public:
  explicit Bench(const Options& o) : opt_(o), pool_(o.threads) {}

  // One weight matrix [n][k]; every m in ms against it.
  void run_weight(const std::string& model, const std::string& layer, int n, int k,
                  const std::vector<int>& ms) {
    const std::vector<float> w = random_vec(size_t(n) * k, 11u + n + k, 1.0f / std::sqrt(float(k)));
    const std::vector<float> bias = random_vec(n, 13u + n, 0.5f);
    const double fp32_mb = double(n) * k * 4 / (1 << 20);
    const int copies = opt_.cold_mb > 0 ? std::max(1, std::min(256, int(std::ceil(opt_.cold_mb / fp32_mb)))) : 1;
    std::vector<std::vector<float>> wcopy(copies);  // distinct copies of W, [n][k]
    std::vector<ck::Weights> cw32, cw16, cw8;
    for (int i = 0; i < copies; ++i) {
      wcopy[i] = w;
      cw32.push_back(ck::make_weights(w.data(), n, k, k, ck::Precision::Fp32));
      cw16.push_back(ck::make_weights(w.data(), n, k, k, ck::Precision::Bf16));
      cw8.push_back(ck::make_weights(w.data(), n, k, k, ck::Precision::Int8));
    }
#ifdef CHORUS_BENCH_SBGEMM
    std::vector<bfloat16> w16(size_t(n) * k);
    cblas_sbstobf16(n * k, w.data(), 1, w16.data(), 1);
#endif
#ifdef CHORUS_BENCH_DNNL
    // Per-column int8 scales of W (as Chorus: max|w_j| / 127), used for oneDNN's s8 weights.
    std::vector<float> wscale(n);
    for (int j = 0; j < n; ++j) wscale[j] = max_abs(w.data() + size_t(j) * k, k) / 127.0f;
    std::vector<int8_t> wq(size_t(n) * k);
    for (int j = 0; j < n; ++j) {
      const float inv = wscale[j] > 0 ? 1.0f / wscale[j] : 0.0f;
      for (int i = 0; i < k; ++i) wq[size_t(j) * k + i] = int8_t(std::nearbyint(w[size_t(j) * k + i] * inv));
    }
    dn::memory::desc first_wdesc[3];
    bool have_first = false;
#endif
    for (int m : ms) {
      const int use = m <= 32 ? copies : 1;  // weight copies cycled through
      const std::vector<float> a = random_vec(size_t(m) * k, 17u + m, 1.0f);
      std::vector<Contender> cs;
      auto add = [&](const std::string& name, const std::string& prec, double settle,
                     std::function<void(float*)> fn) {
        Contender c;
        c.name = name;
        c.precision = prec;
        c.settle_s = settle;
        c.c.assign(size_t(m) * n, 0.0f);
        float* out = c.c.data();
        c.run = [fn, out] { fn(out); };
        cs.push_back(std::move(c));
      };
      const float* A = a.data();
      const float* B = bias.data();
      ck::ThreadPool* pool = &pool_;
      auto next = [use](std::shared_ptr<int>& i) { return (*i)++ % use; };
      add("chorus fp32", "fp32", 0.002, [=, &cw32, i = std::make_shared<int>(0)](float* c) mutable {
        ck::gemm(m, A, k, cw32[next(i)], c, n, B, false, pool);
      });
      add("chorus bf16", "bf16", 0.002, [=, &cw16, i = std::make_shared<int>(0)](float* c) mutable {
        ck::gemm(m, A, k, cw16[next(i)], c, n, B, false, pool);
      });
      add("chorus int8", "int8", 0.002, [=, &cw8, i = std::make_shared<int>(0)](float* c) mutable {
        ck::gemm(m, A, k, cw8[next(i)], c, n, B, false, pool);
      });
#ifdef CHORUS_BENCH_OPENBLAS
      // OpenBLAS's idle threads spin for 2^28 cycles (THREAD_TIMEOUT) before sleeping; 150 ms
      // after its block keeps that from landing on the next contender.
      add("openblas sgemm", "fp32", 0.15, [=, &wcopy, i = std::make_shared<int>(0)](float* c) mutable {
        const float* W = wcopy[next(i)].data();
        for (int r = 0; r < m; ++r) std::memcpy(c + size_t(r) * n, B, sizeof(float) * n);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, A, k, W, k, 1.0f, c, n);
      });
      if (m == 1) {
        add("openblas sgemv", "fp32", 0.15, [=, &wcopy, i = std::make_shared<int>(0)](float* c) mutable {
          const float* W = wcopy[next(i)].data();
          std::memcpy(c, B, sizeof(float) * n);
          cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, 1.0f, W, k, A, 1, 1.0f, c, 1);
        });
      }
#endif
#ifdef CHORUS_BENCH_SBGEMM
      {
        auto a16 = std::make_shared<std::vector<bfloat16>>(size_t(m) * k);
        const bfloat16* W16 = w16.data();
        add("openblas sbgemm", "bf16", 0.15, [=](float* c) {
          cblas_sbstobf16(m * k, A, 1, a16->data(), 1);
          for (int i = 0; i < m; ++i) std::memcpy(c + size_t(i) * n, B, sizeof(float) * n);
          cblas_sbgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a16->data(), k, W16, k, 1.0f, c, n);
        });
      }
#endif
#ifdef CHORUS_BENCH_DNNL
      add_dnnl(cs, m, n, k, use, a, w, bias, wq, wscale, first_wdesc, have_first);
#endif
      if (!opt_.only.empty()) {
        cs.erase(std::remove_if(cs.begin(), cs.end(),
                                [&](const Contender& c) {
                                  return c.name.rfind("chorus", 0) != 0 && c.name.find(opt_.only) == std::string::npos;
                                }),
                 cs.end());
      }
      // Correctness: one call each, against Chorus fp32.
      for (Contender& c : cs) c.run();
      Row row;
      row.model = model;
      row.m = m;
      row.n = n;
      row.k = k;
      row.shape = layer;
      for (Contender& c : cs) {
        row.err.emplace_back(c.name, rel_err(c.c, cs[0].c));
        row.impl.push_back(c.impl);
      }
      // Timed rounds, order rotated each round.
      for (int r = 0; r < opt_.rounds; ++r) {
        for (size_t j = 0; j < cs.size(); ++j) {
          Contender& c = cs[(j + r) % cs.size()];
          c.run();  // warm-up
          calls_.clear();
          const auto t0 = Clock::now();
          double t = 0.0;
          do {
            const auto t1 = Clock::now();
            c.run();
            calls_.push_back(seconds_since(t1) * 1e3);
            t = seconds_since(t0);
          } while (calls_.size() < 3 || t * 1e3 < opt_.block_ms);
          c.mean_ms.push_back(t * 1e3 / calls_.size());
          std::nth_element(calls_.begin(), calls_.begin() + calls_.size() / 2, calls_.end());
          c.ms.push_back(calls_[calls_.size() / 2]);
          std::this_thread::sleep_for(std::chrono::duration<double>(c.settle_s));
        }
      }
      for (Contender& c : cs) {
        row.ms.emplace_back(c.name, Contender::median(c.ms));
        row.mean.emplace_back(c.name, Contender::median(c.mean_ms));
      }
      print_row(row);
      rows_.push_back(row);
    }
  }

#ifdef CHORUS_BENCH_DNNL
  // Weights reordered into `use` distinct buffers, cycled through like Chorus's copies.
  void add_dnnl(std::vector<Contender>& cs, int m, int n, int k, int use, const std::vector<float>& a,
                const std::vector<float>& w, const std::vector<float>& bias,
                const std::vector<int8_t>& wq, const std::vector<float>& wscale,
                dn::memory::desc* first_wdesc, bool& have_first) {
    const dn::memory::dims src_dims = {m, k}, wei_dims = {k, n}, bias_dims = {1, n}, dst_dims = {m, n};
    // User memory: A [m][k] f32, W as [k][n] logical with [n][k] storage (tag ba), bias, C.
    dn::memory a_user({src_dims, dt::f32, tag::ab}, eng_, const_cast<float*>(a.data()));
    dn::memory w_user({wei_dims, dt::f32, tag::ba}, eng_, const_cast<float*>(w.data()));
    dn::memory wq_user({wei_dims, dt::s8, tag::ba}, eng_, const_cast<int8_t*>(wq.data()));
    dn::memory bias_mem({bias_dims, dt::f32, tag::ab}, eng_, const_cast<float*>(bias.data()));
    const dn::memory::desc dst_md(dst_dims, dt::f32, tag::ab);
    auto note = [&](const dn::primitive_desc_base& pd, int slot) {
      g_dnnl_impls.insert(pd.impl_info_str());
      const dn::memory::desc wd = pd.weights_desc();
      if (!have_first) return;
      if (!(wd == first_wdesc[slot])) different_layouts_.insert(std::to_string(n) + "x" + std::to_string(k));
    };
    auto reorder_weights = [&](dn::memory& from, const dn::memory::desc& to_md) {
      auto out = std::make_shared<std::vector<dn::memory>>();
      for (int i = 0; i < use; ++i) {
        dn::memory to(to_md, eng_);
        dn::reorder(from, to).execute(strm_, from, to);
        out->push_back(to);
      }
      strm_.wait();
      return out;
    };
    auto next = [use](std::shared_ptr<int>& i) { return (*i)++ % use; };
    const double settle = 0.03;  // libgomp's workers spin a few ms before sleeping

    // fp32
    {
      dn::matmul::primitive_desc pd(
          dn::matmul::desc({src_dims, dt::f32, tag::ab}, {wei_dims, dt::f32, tag::any},
                           {bias_dims, dt::f32, tag::ab}, dst_md),
          eng_);
      note(pd, 0);
      auto prim = std::make_shared<dn::matmul>(pd);
      auto wmem = reorder_weights(w_user, pd.weights_desc());
      if (!have_first) first_wdesc[0] = pd.weights_desc();
      auto cm = std::make_shared<dn::memory>(dst_md, eng_, static_cast<void*>(nullptr));
      dn::stream s = strm_;
      dn::memory am = a_user, bm = bias_mem;
      add(cs, "onednn f32", "fp32", settle, m, n, [=, i = std::make_shared<int>(0)](float* c) mutable {
        if (cm->get_data_handle() != c) cm->set_data_handle(c);
        prim->execute(s, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, (*wmem)[next(i)]}, {DNNL_ARG_BIAS, bm}, {DNNL_ARG_DST, *cm}});
        s.wait();
      });
      cs.back().impl = pd.impl_info_str();
    }
    // bf16: A rounded to bf16 by a reorder on each call (timed), W reordered once.
    {
      const dn::memory::desc a16_md(src_dims, dt::bf16, tag::ab);
      dn::matmul::primitive_desc pd(
          dn::matmul::desc(a16_md, {wei_dims, dt::bf16, tag::any}, {bias_dims, dt::f32, tag::ab}, dst_md), eng_);
      note(pd, 1);
      auto prim = std::make_shared<dn::matmul>(pd);
      auto wmem = reorder_weights(w_user, pd.weights_desc());
      if (!have_first) first_wdesc[1] = pd.weights_desc();
      auto a16 = std::make_shared<dn::memory>(a16_md, eng_);
      auto to16 = std::make_shared<dn::reorder>(a_user, *a16);
      auto cm = std::make_shared<dn::memory>(dst_md, eng_, static_cast<void*>(nullptr));
      dn::stream s = strm_;
      dn::memory am = a_user, bm = bias_mem;
      add(cs, "onednn bf16", "bf16", settle, m, n, [=, i = std::make_shared<int>(0)](float* c) mutable {
        to16->execute(s, am, *a16);
        if (cm->get_data_handle() != c) cm->set_data_handle(c);
        prim->execute(s, {{DNNL_ARG_SRC, *a16}, {DNNL_ARG_WEIGHTS, (*wmem)[next(i)]}, {DNNL_ARG_BIAS, bm}, {DNNL_ARG_DST, *cm}});
        s.wait();
      });
      cs.back().impl = pd.impl_info_str();
    }
    // int8: s8 weights with per-column scales (as Chorus), A quantised on each call to s8 with
    // one scale s_a for the whole matrix: oneDNN 2.x has no per-row source scale, and
    // run-time output scales (DNNL_RUNTIME_F32_VAL) make it fall back from brgemm/AMX to
    // gemm:jit, so the per-column scales s_w are fixed at creation and s_a enters through a
    // binary-mul post-op with a run-time scalar, the bias through a binary-add post-op:
    // C = s_a * (s_w[j] * (A_q W_q^T)) + bias. Timed: max|A|, the reorder f32 -> s8, the matmul.
    {
      const dn::memory::desc aq_md(src_dims, dt::s8, tag::ab);
      const dn::memory::desc scalar_md({1, 1}, dt::f32, tag::ab);
      dn::primitive_attr attr;
      attr.set_output_scales(1 << 1, wscale);
      dn::post_ops po;
      po.append_binary(dn::algorithm::binary_mul, scalar_md);
      po.append_binary(dn::algorithm::binary_add, {bias_dims, dt::f32, tag::ab});
      attr.set_post_ops(po);
      dn::matmul::primitive_desc pd(dn::matmul::desc(aq_md, {wei_dims, dt::s8, tag::any}, dst_md), attr, eng_);
      note(pd, 2);
      auto prim = std::make_shared<dn::matmul>(pd);
      auto wmem = reorder_weights(wq_user, pd.weights_desc());
      if (!have_first) first_wdesc[2] = pd.weights_desc();
      auto aq = std::make_shared<dn::memory>(aq_md, eng_);
      dn::primitive_attr qattr;
      qattr.set_output_scales(0, {DNNL_RUNTIME_F32_VAL});
      const dn::reorder::primitive_desc qpd(a_user, *aq, qattr);
      g_dnnl_impls.insert("reorder f32 -> s8 (A): " + std::string(qpd.impl_info_str()));
      auto quant = std::make_shared<dn::reorder>(qpd);
      auto qscale = std::make_shared<dn::memory>(dn::memory::desc({1}, dt::f32, tag::a), eng_);
      auto ascale = std::make_shared<dn::memory>(scalar_md, eng_);
      auto cm = std::make_shared<dn::memory>(dst_md, eng_, static_cast<void*>(nullptr));
      dn::stream s = strm_;
      dn::memory am = a_user, bm = bias_mem;
      const float* A = a.data();
      auto body = [=, i = std::make_shared<int>(0)](float* c, bool quantise) mutable {
        if (quantise) {
          const float amax = max_abs(A, size_t(m) * k);
          *static_cast<float*>(ascale->get_data_handle()) = amax / 127.0f;
          *static_cast<float*>(qscale->get_data_handle()) = amax > 0 ? 127.0f / amax : 0.0f;
          quant->execute(s, {{DNNL_ARG_FROM, am}, {DNNL_ARG_TO, *aq}, {DNNL_ARG_ATTR_OUTPUT_SCALES, *qscale}});
        }
        if (cm->get_data_handle() != c) cm->set_data_handle(c);
        prim->execute(s, {{DNNL_ARG_SRC, *aq}, {DNNL_ARG_WEIGHTS, (*wmem)[next(i)]}, {DNNL_ARG_DST, *cm},
                          {DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, *ascale},
                          {DNNL_ARG_ATTR_MULTIPLE_POST_OP(1) | DNNL_ARG_SRC_1, bm}});
        s.wait();
      };
      add(cs, "onednn int8", "int8", settle, m, n, [=](float* c) mutable { body(c, true); });
      cs.back().impl = pd.impl_info_str();
      // The same matmul with A already quantised (the call above ran first and left it):
      // oneDNN's part alone.
      add(cs, "onednn int8 (A pre-quantised)", "int8", settle, m, n, [=](float* c) mutable { body(c, false); });
      cs.back().impl = pd.impl_info_str();
    }
    have_first = true;
  }

  static void add(std::vector<Contender>& cs, const std::string& name, const std::string& prec, double settle,
                  int m, int n, std::function<void(float*)> fn) {
    Contender c;
    c.name = name;
    c.precision = prec;
    c.settle_s = settle;
    c.c.assign(size_t(m) * n, 0.0f);
    float* out = c.c.data();
    c.run = [fn, out] { fn(out); };
    cs.push_back(std::move(c));
  }

  std::set<std::string> different_layouts_;
  dn::engine eng_{dn::engine::kind::cpu, 0};
  dn::stream strm_{eng_};
#endif

  static void print_row(const Row& row) {
    std::printf("%s %-8s m=%-5d n=%-6d k=%-5d", row.model.c_str(), row.shape.c_str(), row.m, row.n, row.k);
    for (size_t i = 0; i < row.ms.size(); ++i)
      std::printf(" | %s%s%s%s %.4g ms (err %.1e)", row.ms[i].first.c_str(), row.impl[i].empty() ? "" : " [",
                  row.impl[i].c_str(), row.impl[i].empty() ? "" : "]", row.ms[i].second, row.err[i].second);
    std::printf("\n");
    std::fflush(stdout);
  }

  // Markdown: ms per product, ratio = library / Chorus of the same precision.
  void print_tables() const {
    if (rows_.empty()) return;
    std::vector<std::string> names;
    for (const auto& p : rows_.front().ms) names.push_back(p.first);
    for (const Row& r : rows_)
      for (const auto& p : r.ms)
        if (std::find(names.begin(), names.end(), p.first) == names.end()) names.push_back(p.first);
    auto group = [](const std::string& name) {
      return name.find("bf16") != std::string::npos ? 1 : name.find("int8") != std::string::npos ? 2 : 0;
    };
    std::stable_sort(names.begin(), names.end(),
                     [&](const std::string& x, const std::string& y) { return group(x) < group(y); });
    print_table(names, false);
    print_table(names, true);
    std::printf("\nnormwise relative difference to Chorus fp32, max |c - c_fp32| / max |c_fp32|, worst over shapes\n\n");
    std::map<std::string, double> worst;
    for (const Row& r : rows_)
      for (const auto& p : r.err) worst[p.first] = std::max(worst[p.first], p.second);
    for (const auto& s : names) std::printf("  %-32s %.2e\n", s.c_str(), worst[s]);
  }

  void print_table(const std::vector<std::string>& names, bool mean) const {
    auto chorus_of = [](const std::string& name) {
      if (name.find("bf16") != std::string::npos) return std::string("chorus bf16");
      if (name.find("int8") != std::string::npos) return std::string("chorus int8");
      return std::string("chorus fp32");
    };
    std::printf("\nms per product, %s, median of %d rounds, %d threads; (x) = ms / Chorus ms of the same precision\n\n",
                mean ? "mean call of each block (stalls included)" : "median call of each block", opt_.rounds,
                opt_.threads);
    std::printf("| model | layer | m x n x k |");
    for (const auto& s : names) std::printf(" %s |", s.c_str());
    std::printf("\n| --- | --- | --- |");
    for (size_t i = 0; i < names.size(); ++i) std::printf(" --- |");
    std::printf("\n");
    for (const Row& r : rows_) {
      std::printf("| %s | %s | %d x %d x %d |", r.model.c_str(), r.shape.c_str(), r.m, r.n, r.k);
      std::map<std::string, double> t = mean ? std::map<std::string, double>(r.mean.begin(), r.mean.end())
                                             : std::map<std::string, double>(r.ms.begin(), r.ms.end());
      for (const auto& s : names) {
        auto it = t.find(s);
        if (it == t.end()) {
          std::printf(" - |");
          continue;
        }
        const bool chorus = s.rfind("chorus", 0) == 0;
        if (chorus) std::printf(" %.3f |", it->second);
        else std::printf(" %.3f (%.2fx) |", it->second, it->second / t[chorus_of(s)]);
      }
      std::printf("\n");
    }
  }

  std::vector<Row> rows_;

 private:
  std::vector<double> calls_;
  Options opt_;
  ck::ThreadPool pool_;
};

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : ""; };
    if (s == "--model") opt.model = next();
    else if (s == "--rounds") opt.rounds = std::max(1, std::atoi(next()));
    else if (s == "--threads") opt.threads = std::max(1, std::atoi(next()));
    else if (s == "--block-ms") opt.block_ms = std::atof(next());
    else if (s == "--only") opt.only = next();
    else if (s == "--cold-mb") opt.cold_mb = std::max(0, std::atoi(next()));
    else {
      std::fprintf(stderr, "usage: %s [--model tiny|base|all] [--rounds N] [--threads N] [--block-ms X] [--only NAME] [--cold-mb MB]\n", argv[0]);
      return 2;
    }
  }
  std::printf("library_bench: chorus isa %s, %d threads; load average at start: %s\n",
              ck::isa_name(ck::active_isa()), opt.threads, loadavg().c_str());
#ifdef CHORUS_BENCH_OPENBLAS
  openblas_set_num_threads(opt.threads);
  std::printf("openblas: %s, core %s, %d threads (its own pthreads)\n", openblas_get_config(), openblas_get_corename(),
              openblas_get_num_threads());
#else
  std::printf("openblas: not built\n");
#endif
#ifdef CHORUS_BENCH_SBGEMM
  std::printf("openblas sbgemm: yes\n");
#else
  std::printf("openblas sbgemm: not available in this OpenBLAS build\n");
#endif
#ifdef CHORUS_BENCH_DNNL
#ifdef CHORUS_BENCH_OMP
  omp_set_num_threads(opt.threads);
  std::printf("onednn: %d.%d.%d, OpenMP, %d threads\n", dnnl_version()->major, dnnl_version()->minor,
              dnnl_version()->patch, omp_get_max_threads());
#else
  std::printf("onednn: %d.%d.%d (thread count from OMP_NUM_THREADS)\n", dnnl_version()->major,
              dnnl_version()->minor, dnnl_version()->patch);
#endif
#else
  std::printf("onednn: not built\n");
#endif
  std::printf("decoder steps (m <= 32): %s\n", opt.cold_mb > 0 ? "weights cycled through copies (L3/memory, as in the engine)" : "one weight matrix (hot, L2-resident when small)");
  std::printf("ratios: library ms / Chorus ms at the same precision (> 1: Chorus faster)\n\n");
  std::fflush(stdout);

  Bench bench(opt);
  struct Model {
    const char* name;
    int d, vocab;
  };
  const Model models[] = {{"tiny", 384, 51864}, {"base", 512, 51865}};
  for (const Model& md : models) {
    if (opt.model != "all" && opt.model != md.name) continue;
    const int d = md.d, f = 4 * d;
    bench.run_weight(md.name, "d x d", d, d, {1, 8, 32, 1500});
    bench.run_weight(md.name, "fc1", f, d, {1, 8, 32, 1500});
    bench.run_weight(md.name, "fc2", d, f, {1, 8, 32, 1500});
    bench.run_weight(md.name, "logits", md.vocab, d, {1, 8, 32});
  }
  bench.print_tables();
#ifdef CHORUS_BENCH_DNNL
  std::printf("\nonednn implementations used:\n");
  for (const std::string& s : g_dnnl_impls) std::printf("  %s\n", s.c_str());
  if (!bench.different_layouts_.empty()) {
    std::printf("onednn chose a different weight layout for some m than for m = 1 (n x k):");
    for (const std::string& s : bench.different_layouts_) std::printf(" %s", s.c_str());
    std::printf("\n");
  }
#endif
  std::printf("\nload average at end: %s\n", loadavg().c_str());
  return 0;
}
