// Private interface between the public entry points and the per-instruction-set files.
#pragma once

#include <cstddef>
#include <cstdint>

#include "chorus/kernels.h"

namespace chorus::kernels::detail {

struct GemmArgs {
  const float* a;
  int lda;
  const float* b;  // packed panels
  int n;
  int k;
  float* c;
  int ldc;
  const float* bias;
  bool accumulate;
};

// Per-thread scratch for one packed block of A; every variant's MC * KC must fit.
constexpr size_t kScratchFloats = 65536;

struct GemmKernel {
  int mr;  // rows per micro-tile: work is split across threads in multiples of this
  int np;  // panels per micro-tile
  // Computes rows [r0, r1) x panels [p0, p1) of C.
  void (*run)(const GemmArgs& g, int r0, int r1, int p0, int p1, float* scratch);
};

struct OpsKernel {
  void (*layer_norm)(const float* x, float* out, int rows, int dim, const float* gamma,
                     const float* beta, float eps);
  void (*gelu)(float* x, size_t count);
  void (*softmax_rows)(float* x, int rows, int cols, int ld);
  void (*add_inplace)(float* y, const float* x, size_t count);
};

// Products over int8 or bf16 weights. A is first "prepared" row by row into the variant's
// encoding (u8 with offset, int16, bf16, ...) unless the variant reads the fp32 rows.
struct LowpArgs {
  const uint8_t* a;   // prepared rows, a_stride bytes each; null when the variant reads a_f32
  size_t a_stride;
  const float* a_f32;  // the caller's A
  int lda;
  const float* a_scale;  // int8: per prepared row
  const uint8_t* b;      // panels, panel_bytes apart
  size_t panel_bytes;
  const float* b_scale;  // int8: per column
  const int32_t* b_sum;  // int8: per column
  int n;
  int k;
  float* c;
  int ldc;
  const float* bias;
  bool accumulate;
};

struct LowpKernel {
  int mr;  // rows per micro-tile
  int np;  // panels per micro-tile
  // Bytes of one prepared row of A for reduction length k; 0 when A is read as fp32.
  size_t (*row_bytes)(int k);
  // Prepares rows [r0, r1) of A (a, dst and scale point at row 0): int8 variants also write
  // the per-row scales. A row takes `stride` bytes of dst; the variant picks the layout
  // (row-major, or interleaved in tiles of mr rows).
  void (*prepare)(const float* a, int lda, int r0, int r1, int k, uint8_t* dst, size_t stride, float* scale);
  // Computes rows [r0, r1) x panels [p0, p1) of C.
  void (*run)(const LowpArgs& g, int r0, int r1, int p0, int p1);
};

// Splits an m x panels product into tasks for pool (or runs it on the caller when small):
// by row slabs when there are many rows, otherwise by columns so that B is streamed once.
// fn(r0, r1, p0, p1) computes one block; row bounds are multiples of mr except the last.
// Internal linkage: the per-ISA files include this header too (see gemm_driver.h).
namespace {
template <typename Fn>
void split_product(int m, int panels, int mr, int np, double macs, ThreadPool* pool, Fn&& fn) {
  // Below this many multiply-adds a job is cheaper than waking another thread.
  constexpr double kMinParallelMacs = 1 << 18;
  // A few tasks per thread, so a thread that loses its core for a while does not hold up
  // the whole product, yet each task still covers a large block.
  constexpr int kTasksPerThread = 4;
  const int threads = pool ? pool->size() : 1;
  if (threads <= 1 || macs < kMinParallelMacs) {
    fn(0, m, 0, panels);
    return;
  }
  auto split = [](int units, int chunks, int i) {
    return static_cast<int>(static_cast<long long>(units) * i / chunks);
  };
  // Splitting rows re-reads B once per row chunk; splitting columns re-packs A once per
  // column chunk. With many rows the A side is the larger block, so give each task a
  // slab of rows across all columns; with few rows (decoder steps) stream B exactly once
  // by giving each task its own columns.
  const int row_units = (m + mr - 1) / mr;
  const int col_units = (panels + np - 1) / np;
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
    const int r0 = split(row_units, row_chunks, rc) * mr;
    const int r1 = rc + 1 == row_chunks ? m : split(row_units, row_chunks, rc + 1) * mr;
    const int p0 = split(col_units, col_chunks, cc) * np;
    const int p1 = cc + 1 == col_chunks ? panels : split(col_units, col_chunks, cc + 1) * np;
    fn(r0, r1, p0, p1);
  });
}
}  // namespace

extern const GemmKernel kGemmScalar;
extern const OpsKernel kOpsScalar;
#if defined(CHORUS_KERNELS_X86)
extern const GemmKernel kGemmAvx2;
extern const GemmKernel kGemmAvx512;
extern const OpsKernel kOpsAvx2;
extern const OpsKernel kOpsAvx512;
extern const LowpKernel kQ8Avx2;
extern const LowpKernel kQ8Vnni;
extern const LowpKernel kBf16Avx2;
extern const LowpKernel kBf16Avx512;
extern const LowpKernel kBf16Native;
extern const LowpKernel kQ8Amx;
extern const LowpKernel kBf16Amx;
#endif
#if defined(CHORUS_KERNELS_NEON)
extern const GemmKernel kGemmNeon;
extern const OpsKernel kOpsNeon;
extern const LowpKernel kQ8Neon;
extern const LowpKernel kQ8NeonDot;
extern const LowpKernel kBf16Neon;
// Whether the int8 products may use sdot: the CPU has it (ARMv8.2 dot product, HWCAP_ASIMDDP)
// and CHORUS_ISA is not "neon-nodotprod". Not an Isa level of its own, since callers compare
// active_isa() with Isa::Neon. Read once.
bool neon_dotprod();
#endif
extern const LowpKernel kQ8Scalar;
extern const LowpKernel kBf16Scalar;

}  // namespace chorus::kernels::detail

// ---- FFT and fp16 attention (fft_impl.h, attention_impl.h) ----

namespace chorus::kernels::detail {

struct FftKernel {
  // Frames [0, frames) of x; im == nullptr means write the power into re.
  void (*stft)(const FftPlan& plan, const float* x, int hop, int frames, const float* window, float* re,
               float* im, int ld);
};

struct AttentionKernel {
  int lanes;  // the vector variants need head_dim to be a multiple of this
  void (*attention)(const AttentionF16& a);
  void (*pack_keys)(const float* k, int ldk, int count, int head_dim, Half* panels, int t0);
  void (*to_f16)(const float* x, int ldx, int rows, int cols, Half* out, int ldo);
};

extern const FftKernel kFftScalar;
extern const AttentionKernel kAttentionScalar;
#if defined(CHORUS_KERNELS_X86)
extern const FftKernel kFftAvx2;
extern const FftKernel kFftAvx512;
extern const AttentionKernel kAttentionAvx2;
extern const AttentionKernel kAttentionAvx512;
#endif
#if defined(CHORUS_KERNELS_NEON)
extern const FftKernel kFftNeon;
extern const AttentionKernel kAttentionNeon;
#endif

}  // namespace chorus::kernels::detail

// ---- Logit reductions (logits_impl.h) ----

namespace chorus::kernels::detail {

struct LogitsKernel {
  void (*logit_stats)(const float* x, int n, int split, RangeStats* head, RangeStats* tail);
  int (*top_k)(const float* x, int n, int k, int* out);
};

extern const LogitsKernel kLogitsScalar;
#if defined(CHORUS_KERNELS_X86)
extern const LogitsKernel kLogitsAvx2;
extern const LogitsKernel kLogitsAvx512;
#endif
#if defined(CHORUS_KERNELS_NEON)
extern const LogitsKernel kLogitsNeon;
#endif

}  // namespace chorus::kernels::detail
