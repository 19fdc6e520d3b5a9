// Private interface between the public entry points and the per-instruction-set files.
#pragma once

#include <cstddef>

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

extern const GemmKernel kGemmScalar;
extern const OpsKernel kOpsScalar;
#if defined(CHORUS_KERNELS_X86)
extern const GemmKernel kGemmAvx2;
extern const GemmKernel kGemmAvx512;
extern const OpsKernel kOpsAvx2;
extern const OpsKernel kOpsAvx512;
#endif

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

}  // namespace chorus::kernels::detail
