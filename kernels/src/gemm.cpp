// Public gemm entry: picks the variant, splits the product into tasks for the pool.
#include "internal.h"

namespace chorus::kernels {
namespace {

const detail::GemmKernel& gemm_kernel(Isa isa) {
#if defined(CHORUS_KERNELS_X86)
  if (isa == Isa::Avx512) return detail::kGemmAvx512;
  if (isa == Isa::Avx2) return detail::kGemmAvx2;
#endif
  (void)isa;
  return detail::kGemmScalar;
}

float* thread_scratch() {
  thread_local AlignedBuffer buf = aligned_alloc_floats(detail::kScratchFloats);
  return buf.get();
}

// Below this many multiply-adds a job is cheaper than waking another thread.
constexpr double kMinParallelMacs = 1 << 18;
// Tasks per thread: a few, so a thread that loses its core for a while does not hold up
// the whole product, yet each task still covers a large block.
constexpr int kTasksPerThread = 4;

int split(int units, int chunks, int i) {
  return static_cast<int>(static_cast<long long>(units) * i / chunks);
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

  const int threads = pool ? pool->size() : 1;
  if (threads <= 1 || static_cast<double>(m) * n * k < kMinParallelMacs) {
    kern.run(g, 0, m, 0, panels, thread_scratch());
    return;
  }

  // Splitting rows re-reads B once per row chunk; splitting columns re-packs A once per
  // column chunk. With many rows the A side is the larger block, so give each task a
  // slab of rows across all columns; with few rows (decoder steps) stream B exactly once
  // by giving each task its own columns.
  const int row_units = (m + kern.mr - 1) / kern.mr;
  const int col_units = (panels + kern.np - 1) / kern.np;
  const int target = threads * kTasksPerThread;
  int row_chunks = 1;
  int col_chunks = 1;
  if (row_units >= target) {
    row_chunks = target;
  } else {
    col_chunks = col_units < target ? col_units : target;
    const int rest = (target + col_chunks - 1) / col_chunks;
    row_chunks = row_units < rest ? row_units : rest;
  }

  pool->parallel_for(row_chunks * col_chunks, [&](int task) {
    const int rc = task / col_chunks;
    const int cc = task % col_chunks;
    const int r0 = split(row_units, row_chunks, rc) * kern.mr;
    const int r1 = rc + 1 == row_chunks ? m : split(row_units, row_chunks, rc + 1) * kern.mr;
    const int p0 = split(col_units, col_chunks, cc) * kern.np;
    const int p1 = cc + 1 == col_chunks ? panels : split(col_units, col_chunks, cc + 1) * kern.np;
    kern.run(g, r0, r1, p0, p1, thread_scratch());
  });
}

}  // namespace chorus::kernels
