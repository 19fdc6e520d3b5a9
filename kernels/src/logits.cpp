// Logit reductions: the portable variant, the public entry points and their dispatch.
#include <stdexcept>
#include <string>

#include "internal.h"
#include "logits_impl.h"
#include "vec_scalar.h"

namespace chorus::kernels {
namespace detail {

const LogitsKernel kLogitsScalar = {&logit_stats_impl<V1>, &top_k_impl<V1>};

}  // namespace detail

namespace {

const detail::LogitsKernel& logits_kernel() {
#if defined(CHORUS_KERNELS_X86)
  const Isa isa = active_isa();
  if (isa >= Isa::Avx512) return detail::kLogitsAvx512;
  if (isa == Isa::Avx2) return detail::kLogitsAvx2;
#endif
#if defined(CHORUS_KERNELS_NEON)
  if (active_isa() == Isa::Neon) return detail::kLogitsNeon;
#endif
  return detail::kLogitsScalar;
}

// Float lanes count indices exactly up to 2^24.
constexpr int kMaxLogits = 1 << 24;

}  // namespace

void logit_stats(const float* x, int n, int split, RangeStats* head, RangeStats* tail) {
  if (n < 0 || n > kMaxLogits || split < 0 || split > n) {
    throw std::invalid_argument("logit_stats: split " + std::to_string(split) + " of a row of " + std::to_string(n) +
                                " (at most 2^24)");
  }
  logits_kernel().logit_stats(x, n, split, head, tail);
}

int top_k(const float* x, int n, int k, int* out) {
  if (n < 0 || k < 0) throw std::invalid_argument("top_k: negative n or k");
  return logits_kernel().top_k(x, n, k, out);
}

}  // namespace chorus::kernels
