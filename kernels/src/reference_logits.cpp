// Ground truth for the logit reductions: the obvious passes, the sum of exponentials in double.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "chorus/kernels.h"

namespace chorus::kernels::reference {
namespace {

RangeStats range_stats(const float* x, int begin, int end) {
  const float inf = std::numeric_limits<float>::infinity();
  RangeStats s{-inf, begin < end ? begin : -1, -inf};
  for (int i = begin; i < end; ++i) {
    if (x[i] > s.max) {
      s.max = x[i];
      s.argmax = i;
    }
  }
  if (s.max == -inf) return s;
  double sum = 0.0;
  for (int i = begin; i < end; ++i) sum += std::exp(static_cast<double>(x[i]) - s.max);
  s.log_sum_exp = s.max + std::log(sum);
  return s;
}

}  // namespace

void logit_stats(const float* x, int n, int split, RangeStats* head, RangeStats* tail) {
  *head = range_stats(x, 0, split);
  *tail = range_stats(x, split, n);
}

int top_k(const float* x, int n, int k, int* out) {
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [x](int a, int b) { return x[a] > x[b]; });
  const int count = std::min(n, k);
  std::copy(order.begin(), order.begin() + count, out);
  return count;
}

}  // namespace chorus::kernels::reference
