// Reductions over one row of logits (a decoder step's vocabulary), written once against a
// vector interface V (vec_*.h) and instantiated per instruction set. Internal linkage for the
// reason given in gemm_driver.h.
#pragma once

#include <cmath>
#include <limits>

#include "chorus/kernels.h"
#include "simd_ops.h"

namespace chorus::kernels::detail {
namespace {

// Elements per block of logit_stats: 2 KB, so the block's second pass reads L1.
constexpr int kStatsBlock = 512;
// exp_v gives exactly 0 below this (see simd_ops.h): a block whose largest value is that far
// under the running max adds nothing.
constexpr float kExpUnderflow = -87.33654f;

// Statistics of one range in a single pass over memory, block by block: the block's max and
// first index of it (per lane, indices held exactly as floats, then across lanes), then the
// sum of exp(x - running max) over the block from L1, in float lanes with four accumulators
// (at most kStatsBlock / (4 W) terms each) and added to a double total. When a block raises
// the max the total is rescaled, in double; a fully masked block costs only its max pass.
template <class V>
RangeStats range_stats(const float* x, int begin, int end) {
  using T = typename V::T;
  constexpr float kInf = std::numeric_limits<float>::infinity();
  RangeStats s{-kInf, begin < end ? begin : -1, -kInf};
  double total = 0.0;  // sum of exp(x - s.max) so far

  alignas(64) float lane_max[V::W];
  alignas(64) float lane_index[V::W];
  // `vectors` whole vectors at p, the first one holding x[first_index ..].
  auto block = [&](const float* p, int first_index, int vectors) {
    for (int i = 0; i < V::W; ++i) lane_index[i] = static_cast<float>(first_index + i);
    T index = V::load(lane_index);
    T best_index = index;
    T best = V::load(p);
    const T step = V::set1(static_cast<float>(V::W));
    for (int v = 1; v < vectors; ++v) {
      index = V::add(index, step);
      const T xv = V::load(p + v * V::W);
      // Strictly greater: each lane keeps its first occurrence of its max.
      best_index = V::select_lt(best, xv, index, best_index);
      best = V::max(best, xv);
    }
    V::store(lane_max, best);
    V::store(lane_index, best_index);
    float block_max = lane_max[0];
    float block_index = lane_index[0];
    for (int i = 1; i < V::W; ++i) {
      if (lane_max[i] > block_max || (lane_max[i] == block_max && lane_index[i] < block_index)) {
        block_max = lane_max[i];
        block_index = lane_index[i];
      }
    }

    if (block_max > s.max) {
      total *= std::exp(static_cast<double>(s.max) - block_max);
      s.max = block_max;
      s.argmax = static_cast<int>(block_index);
    }
    if (block_max == -kInf || block_max - s.max < kExpUnderflow) return;

    const T m = V::set1(s.max);
    T acc[4] = {V::zero(), V::zero(), V::zero(), V::zero()};
    int v = 0;
    for (; v + 4 <= vectors; v += 4) {
      for (int a = 0; a < 4; ++a) acc[a] = V::add(acc[a], exp_v<V>(V::sub(V::load(p + (v + a) * V::W), m)));
    }
    for (; v < vectors; ++v) acc[v % 4] = V::add(acc[v % 4], exp_v<V>(V::sub(V::load(p + v * V::W), m)));
    total += V::reduce_add(V::add(V::add(acc[0], acc[1]), V::add(acc[2], acc[3])));
  };

  const int whole = begin + (end - begin) / V::W * V::W;
  for (int b = begin; b < whole; b += kStatsBlock) {
    const int count = whole - b < kStatsBlock ? whole - b : kStatsBlock;
    block(x + b, b, count / V::W);
  }
  if (whole < end) {
    // The last partial vector goes through a buffer padded with -inf, which no lane selects
    // and which adds 0.
    alignas(64) float tail[V::W];
    for (int i = 0; i < V::W; ++i) tail[i] = whole + i < end ? x[whole + i] : -kInf;
    block(tail, whole, 1);
  }
  if (s.max != -kInf) s.log_sum_exp = s.max + std::log(total);
  return s;
}

template <class V>
void logit_stats_impl(const float* x, int n, int split, RangeStats* head, RangeStats* tail) {
  *head = range_stats<V>(x, 0, split);
  *tail = range_stats<V>(x, split, n);
}

// Keeps out[0, size) sorted by decreasing value, equal values by increasing index. Indices
// arrive in increasing order, so a newcomer goes after the equal values already there, and
// one equal to the last kept value is not taken when the list is full.
template <class V>
int top_k_impl(const float* x, int n, int k, int* out) {
  using T = typename V::T;
  const int count = n < k ? n : k;
  int size = 0;
  auto insert = [&](int t) {
    const float value = x[t];
    int i = size < k ? size++ : k - 1;
    for (; i > 0 && x[out[i - 1]] < value; --i) out[i] = out[i - 1];
    out[i] = t;
  };
  for (int t = 0; t < count; ++t) insert(t);
  if (count < k || k == 0) return count;

  // Four vectors per test: on most of a row nothing beats the k-th value, so the common case
  // is three max, one compare and a branch per 4 W values.
  float last = x[out[k - 1]];
  T threshold = V::set1(last);
  int t = k;
  for (; t + 4 * V::W <= n; t += 4 * V::W) {
    const T m = V::max(V::max(V::load(x + t), V::load(x + t + V::W)),
                       V::max(V::load(x + t + 2 * V::W), V::load(x + t + 3 * V::W)));
    if (V::gt_mask(m, threshold) == 0) continue;
    for (int v = t; v < t + 4 * V::W; v += V::W) {
      // Candidates against the threshold at the start of the vector; an insertion raises
      // it, so each is checked again.
      for (unsigned bits = V::gt_mask(V::load(x + v), threshold); bits != 0; bits &= bits - 1) {
        const int j = v + __builtin_ctz(bits);
        if (x[j] > last) {
          insert(j);
          last = x[out[k - 1]];
        }
      }
      threshold = V::set1(last);
    }
  }
  for (; t < n; ++t) {
    if (x[t] > last) {
      insert(t);
      last = x[out[k - 1]];
    }
  }
  return k;
}

}  // namespace
}  // namespace chorus::kernels::detail
