// The machine's measured ceilings, for stating each kernel as a fraction of what the CPU can
// do: multiply-add throughput of each instruction form the kernels are built on, and memory
// read bandwidth. Each is measured on every thread of the pool at once.
#pragma once

#include <vector>

#include "chorus/kernels.h"

namespace chorus::bench {

enum class PeakKind {
  Fp32FmaYmm,    // vfmadd231ps ymm: fp32 kernels at avx2, and bf16 widened to fp32
  Fp32FmaZmm,    // vfmadd231ps zmm: fp32 and widened bf16 at avx512
  Bf16DotZmm,    // vdpbf16ps zmm
  Int8MaddYmm,   // vpmaddubsw + vpmaddwd ymm: int8 without VNNI
  Int8DotZmm,    // vpdpbusd zmm
  Fp32FmaNeon,   // fmla .4s
  MemoryRead,    // streaming reads of a buffer far larger than the caches (DRAM), bytes/s
};

struct Peak {
  PeakKind kind;
  const char* name;
  double per_second;  // multiply-add ops (2 per multiply-add) or bytes
};

// The ceilings this CPU has, each measured on all of pool's threads together.
std::vector<Peak> measure_peaks(kernels::ThreadPool& pool);

}  // namespace chorus::bench
