// Blocking loop shared by the gemm variants. Each instruction-set file includes this and
// instantiates it with its own micro-kernel. Everything here has internal linkage on
// purpose: an inline function with external linkage would be merged across files built
// with different -m flags, and the linker could keep the AVX-512 copy for the scalar path.
#pragma once

#include <cstddef>

#include "internal.h"

namespace chorus::kernels::detail {
namespace {

inline int min_int(int a, int b) { return a < b ? a : b; }

// Copies rows [0, mc) x [0, kc) of A into tiles of MR rows stored k-major ([kc][MR]) so
// the micro-kernel broadcasts A from a single sequential stream whatever lda is.
template <int MR>
void pack_a(const float* a, int lda, int mc, int kc, float* dst) {
  for (int t = 0; t < mc; t += MR) {
    const int mr = min_int(MR, mc - t);
    float* tile = dst + static_cast<size_t>(t) * kc;
    for (int i = 0; i < mr; ++i) {
      const float* src = a + static_cast<size_t>(t + i) * lda;
      for (int kk = 0; kk < kc; ++kk) tile[static_cast<size_t>(kk) * MR + i] = src[kk];
    }
  }
}

// K supplies MR (rows per tile), NP (panels per tile), MC (rows per packed A block, a
// multiple of MR), KC (reduction block) and tile(mr, np, kc, a_packed, b, b_panel_stride,
// c, ldc, cols, bias, load_c).
//
// Loop order (outer to inner): a group of panels small enough for B to stay in L2, a
// reduction block, a block of MC rows whose A is packed once, then each panel group of the
// micro-tile, whose kc x (NP*16) slice of B stays in L1 while it sweeps the row tiles.
template <class K>
void gemm_range(const GemmArgs& g, int r0, int r1, int p0, int p1, float* scratch) {
  static_assert(K::MC % K::MR == 0, "MC must hold whole tiles");
  static_assert(static_cast<size_t>(K::MC) * K::KC <= kScratchFloats, "scratch too small");
  constexpr int kPanelsPerBlock = 32;
  const size_t panel_stride = static_cast<size_t>(g.k) * kPanel;

  // When all rows fit one tile, B has no reuse to protect; one pass over the whole
  // reduction reads each panel strictly sequentially and touches C once.
  int kc_max = K::KC;
  if (r1 - r0 <= K::MR && static_cast<size_t>(g.k) * K::MR <= kScratchFloats) kc_max = g.k;
  const int k_blocks = (g.k + kc_max - 1) / kc_max;
  const int kc_step = (g.k + k_blocks - 1) / k_blocks;  // balanced blocks, none tiny

  for (int pc = p0; pc < p1; pc += kPanelsPerBlock) {
    const int pc_end = min_int(p1, pc + kPanelsPerBlock);
    for (int k0 = 0; k0 < g.k; k0 += kc_step) {
      const int kc = min_int(kc_step, g.k - k0);
      const bool first = k0 == 0;
      const bool load_c = !first || g.accumulate;
      for (int rb = r0; rb < r1; rb += K::MC) {
        const int mc = min_int(K::MC, r1 - rb);
        pack_a<K::MR>(g.a + static_cast<size_t>(rb) * g.lda + k0, g.lda, mc, kc, scratch);
        for (int p = pc; p < pc_end; p += K::NP) {
          const int np = min_int(K::NP, pc_end - p);
          const int col0 = p * kPanel;
          const int cols = min_int(np * kPanel, g.n - col0);
          const float* b = g.b + p * panel_stride + static_cast<size_t>(k0) * kPanel;
          const float* bias = first && g.bias ? g.bias + col0 : nullptr;
          for (int t = 0; t < mc; t += K::MR) {
            K::tile(min_int(K::MR, mc - t), np, kc, scratch + static_cast<size_t>(t) * kc, b,
                    panel_stride, g.c + static_cast<size_t>(rb + t) * g.ldc + col0, g.ldc, cols,
                    bias, load_c);
          }
        }
      }
    }
  }
}

// Maps a run-time (mr, np) onto the micro-kernel instantiated for it.
using TileFn = void (*)(int kc, const float* a, const float* b, size_t b_stride, float* c,
                        int ldc, int cols, const float* bias, bool load_c);
template <int N>
struct TileTable {
  TileFn fn[N];
};

}  // namespace
}  // namespace chorus::kernels::detail
