// fp16 attention: the portable variant, the public entry points and their dispatch.
#include <stdexcept>
#include <string>

#include "attention_impl.h"
#include "vec_scalar.h"

namespace chorus::kernels {
namespace detail {

const AttentionKernel kAttentionScalar = {1, &attention_impl<V1>, &pack_keys_impl<V1>, &to_f16_impl<V1>};

}  // namespace detail

namespace {

const detail::AttentionKernel& attention_kernel() {
#if defined(CHORUS_KERNELS_X86)
  // F16C came with every AVX2 CPU, but it is a separate feature bit: check it rather than assume.
  static const bool f16c = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("f16c") != 0;
  }();
  const Isa isa = active_isa();
  if (isa >= Isa::Avx512) return detail::kAttentionAvx512;
  if (isa == Isa::Avx2 && f16c) return detail::kAttentionAvx2;
#endif
#if defined(CHORUS_KERNELS_NEON)
  if (active_isa() == Isa::Neon) return detail::kAttentionNeon;
#endif
  return detail::kAttentionScalar;
}

}  // namespace

size_t key_panels_size(int keys, int head_dim) {
  return detail::round_up_panel(keys) * static_cast<size_t>(head_dim);
}

void pack_keys_f16(const float* k, int ldk, int count, int head_dim, Half* panels, int t0) {
  attention_kernel().pack_keys(k, ldk, count, head_dim, panels, t0);
}

void to_f16(const float* x, int ldx, int rows, int cols, Half* out, int ldo) {
  attention_kernel().to_f16(x, ldx, rows, cols, out, ldo);
}

void from_f16(const Half* x, int ldx, int rows, int cols, float* out, int ldo) {
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      out[static_cast<size_t>(r) * ldo + c] = detail::half_to_float(x[static_cast<size_t>(r) * ldx + c]);
    }
  }
}

size_t attention_scratch_size(int n, int t, int head_dim) {
  return static_cast<size_t>(n) * (detail::round_up_panel(t) + head_dim);
}

void attention_f16(const AttentionF16& a) {
  if (a.n <= 0) return;
  if (a.t <= 0 || (a.causal && a.t < a.n)) {
    throw std::invalid_argument("attention: " + std::to_string(a.t) + " keys for " + std::to_string(a.n) +
                                (a.causal ? " causal rows" : " rows"));
  }
  const detail::AttentionKernel& k = attention_kernel();
  if (a.head_dim % k.lanes == 0) {
    k.attention(a);
  } else {
    detail::kAttentionScalar.attention(a);
  }
}

}  // namespace chorus::kernels
