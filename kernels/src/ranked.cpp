// Ranked products: every column scored in int8, the ones near each row's top again in bf16.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <vector>

#include "chorus/kernels.h"

namespace chorus::kernels {
namespace {

// Candidates looked for among the int8 scores with top_k first: on most rows fewer than
// this many are within the margin, and a full scan runs only when all of them are.
constexpr int kProbe = 16;

// Scores columns [panel * kPanel, (panel + count) * kPanel) of one row again from bf16; pool
// splits them by columns when the row is ranked alone (a decoder step of one hypothesis).
void rescore(const float* a, int lda, const Bf16Matrix& exact, int panel, int count, float* row, ThreadPool* pool) {
  const size_t stride = bf16_panels_size(kPanel, exact.k);
  const int col0 = panel * kPanel;
  const int cols = std::min(count * kPanel, exact.n - col0);
  gemm(1, a, lda, Bf16Panels{exact.data.get() + panel * stride, cols, exact.k, stride}, row + col0, cols, nullptr,
       false, pool);
}

float panel_max(const float* x) {
  float m = x[0];
  for (int c = 1; c < kPanel; ++c) m = std::max(m, x[c]);
  return m;
}

// sum of exp(x[c] - best) over one panel.
float panel_mass(const float* x, float best) {
  float sum = 0.0f;
  for (int c = 0; c < kPanel; ++c) sum += std::exp(x[c] - best);
  return sum;
}

}  // namespace

RankedMatrix rank_copy(const Bf16Matrix& exact) {
  std::vector<float> rows(static_cast<size_t>(exact.n) * exact.k);
  for (int j = 0; j < exact.n; ++j) column(exact, j, rows.data() + static_cast<size_t>(j) * exact.k);
  RankedMatrix r;
  r.coarse = quantize_nk(rows.data(), exact.n, exact.k, exact.k);
  for (int j = 0; j < exact.n; ++j) {
    const float* row = rows.data() + static_cast<size_t>(j) * exact.k;
    double norm2 = 0.0;
    for (int kk = 0; kk < exact.k; ++kk) norm2 += static_cast<double>(row[kk]) * row[kk];
    r.column_norm = std::max(r.column_norm, static_cast<float>(std::sqrt(norm2)));
    r.column_step = std::max(r.column_step, r.coarse.scale[j]);
  }
  return r;
}

float rank_margin(const float* a, int k, const RankedMatrix& ranked) {
  double max_abs = 0.0, norm2 = 0.0;
  for (int i = 0; i < k; ++i) {
    max_abs = std::max(max_abs, static_cast<double>(std::fabs(a[i])));
    norm2 += static_cast<double>(a[i]) * a[i];
  }
  const double a_step = max_abs / 127.0, b_step = ranked.column_step, b_norm = ranked.column_norm;
  // A score's error: a's rounding errors against the column, plus the column's against a.
  const double variance = (a_step * a_step * b_norm * b_norm + b_step * b_step * norm2) / 12.0;
  return static_cast<float>(kRankMargin * std::sqrt(variance));
}

void gemm_ranked(int m, const float* a, int lda, const RankedMatrix& ranked, const Bf16Matrix& exact, int exact_from,
                 float* c, int ldc, ThreadPool* pool, RankedCounts* counts) {
  if (m <= 0 || exact.n <= 0) return;
  const int n = exact.n;
  exact_from = std::clamp(exact_from, 0, n);
  gemm(m, a, lda, ranked.coarse, c, ldc, nullptr, false, pool);
  // The always-exact columns from the panel that holds exact_from: one product for all rows.
  const int tail_panel = exact_from / kPanel;
  if (tail_panel * kPanel < n) {
    const size_t stride = bf16_panels_size(kPanel, exact.k);
    gemm(m, a, lda, Bf16Panels{exact.data.get() + tail_panel * stride, n - tail_panel * kPanel, exact.k, stride},
         c + tail_panel * kPanel, ldc, nullptr, false, pool);
  }
  if (tail_panel == 0) {
    if (counts) counts->rows += m;
    return;
  }
  std::atomic<long long> rescored{0};
  // Rows rank in parallel; a row alone spreads its rescoring over the pool instead.
  ThreadPool* rescore_pool = m == 1 ? pool : nullptr;
  auto rank_row = [&](int i) {
    const float* ai = a + static_cast<size_t>(i) * lda;
    float* row = c + static_cast<size_t>(i) * ldc;
    const int ranked_cols = tail_panel * kPanel;  // columns before it are still int8 scores
    int top[kProbe];
    const int found = top_k(row, ranked_cols, kProbe, top);
    const float best = row[top[0]], margin = rank_margin(ai, exact.k, ranked);
    // The int8 mass of the ranked columns, relative to the best, and how much of it the int8
    // columns may keep (kRankTailError over a score's error deviation).
    RangeStats head, none;
    logit_stats(row, ranked_cols, ranked_cols, &head, &none);
    const double mass = std::exp(head.log_sum_exp - best);
    // (A zero margin means int8 rounds nothing here: its scores are exact.)
    const double may_keep = mass * kRankTailError * kRankMargin / std::max(margin, 1e-30f);
    // Panels to score again, marked before any is rescored, since rescoring overwrites the
    // int8 scores that decide them. Kept per thread: no allocation per step.
    thread_local std::vector<int> panels;
    thread_local std::vector<float> maxima;
    panels.clear();
    const int n_panels = tail_panel;
    float floor = best - margin;
    bool scanned = false;  // maxima holds every panel's int8 maximum
    auto scan = [&] {
      if (scanned) return;
      maxima.resize(n_panels);
      for (int p = 0; p < n_panels; ++p) maxima[p] = panel_max(row + p * kPanel);
      scanned = true;
    };
    if (found < kProbe || row[top[kProbe - 1]] < floor) {
      for (int t = 0; t < found && row[top[t]] >= floor; ++t) panels.push_back(top[t] / kPanel);
      std::sort(panels.begin(), panels.end());
      panels.erase(std::unique(panels.begin(), panels.end()), panels.end());
    } else {
      scan();
      for (int p = 0; p < n_panels; ++p) {
        if (maxima[p] >= floor) panels.push_back(p);
      }
    }
    // A flat row spreads its mass over many columns under the margin, where int8's errors
    // would move the log-sum-exp: lower the floor a margin at a time, adding each band's
    // panels and their mass, until the int8 columns left may keep what they hold.
    double covered = 0.0;
    for (int p : panels) covered += panel_mass(row + p * kPanel, best);
    while (margin > 0.0f && mass - covered > may_keep && static_cast<int>(panels.size()) < n_panels) {
      scan();
      const float above = floor;
      floor -= margin;
      for (int p = 0; p < n_panels; ++p) {
        if (maxima[p] >= floor && maxima[p] < above) {
          panels.push_back(p);
          covered += panel_mass(row + p * kPanel, best);
        }
      }
    }
    std::sort(panels.begin(), panels.end());
    for (size_t p = 0; p < panels.size();) {
      size_t run = 1;
      while (p + run < panels.size() && panels[p + run] == panels[p] + static_cast<int>(run)) ++run;
      rescore(ai, lda, exact, panels[p], static_cast<int>(run), row, rescore_pool);
      p += run;
    }
    if (counts) rescored += static_cast<long long>(panels.size());
  };
  if (pool && m > 1) {
    pool->parallel_for(m, [&](int i) { rank_row(i); });
  } else {
    for (int i = 0; i < m; ++i) rank_row(i);
  }
  if (counts) {
    counts->rows += m;
    counts->panels += rescored.load();
  }
}

}  // namespace chorus::kernels
