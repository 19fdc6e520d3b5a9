// Public gemm entry: picks the variant, splits the product into tasks for the pool.
#include "internal.h"

namespace chorus::kernels {
namespace {

const detail::GemmKernel& gemm_kernel(Isa isa) {
#if defined(CHORUS_KERNELS_X86)
  if (isa >= Isa::Avx512) return detail::kGemmAvx512;
  if (isa == Isa::Avx2) return detail::kGemmAvx2;
#endif
#if defined(CHORUS_KERNELS_NEON)
  if (isa == Isa::Neon) return detail::kGemmNeon;
#endif
  (void)isa;
  return detail::kGemmScalar;
}

float* thread_scratch() {
  thread_local AlignedBuffer buf = aligned_alloc_floats(detail::kScratchFloats);
  return buf.get();
}

}  // namespace

void gemm(int m, const float* a, int lda, const float* packed_b, int n, int k, float* c, int ldc,
          const float* bias, bool accumulate, ThreadPool* pool) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    for (int i = 0; i < m; ++i) {
      float* ci = c + static_cast<size_t>(i) * ldc;
      for (int j = 0; j < n; ++j) ci[j] = (accumulate ? ci[j] : 0.0f) + (bias ? bias[j] : 0.0f);
    }
    return;
  }
  const detail::GemmKernel& kern = gemm_kernel(active_isa());
  const detail::GemmArgs g{a, lda, packed_b, n, k, c, ldc, bias, accumulate};
  const int panels = (n + kPanel - 1) / kPanel;

  detail::split_product(m, panels, kern.mr, kern.np, static_cast<double>(m) * n * k, pool,
                        [&](int r0, int r1, int p0, int p1) { kern.run(g, r0, r1, p0, p1, thread_scratch()); });
}

}  // namespace chorus::kernels
