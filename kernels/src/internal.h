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
