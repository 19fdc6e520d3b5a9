// Repacking of B into kPanel-column panels (see kernels.h for the layout).
#include <cstring>

#include "internal.h"

namespace chorus::kernels {

size_t packed_size(int n, int k) {
  const size_t panels = (static_cast<size_t>(n) + kPanel - 1) / kPanel;
  return panels * kPanel * static_cast<size_t>(k);
}

void pack_nk_into(const float* b, int n, int k, int ldb, float* out) {
  const int panels = (n + kPanel - 1) / kPanel;
  for (int p = 0; p < panels; ++p) {
    float* dst = out + static_cast<size_t>(p) * k * kPanel;
    for (int j = 0; j < kPanel; ++j) {
      const int col = p * kPanel + j;
      if (col < n) {
        const float* src = b + static_cast<size_t>(col) * ldb;
        for (int kk = 0; kk < k; ++kk) dst[static_cast<size_t>(kk) * kPanel + j] = src[kk];
      } else {
        for (int kk = 0; kk < k; ++kk) dst[static_cast<size_t>(kk) * kPanel + j] = 0.0f;
      }
    }
  }
}

void pack_kn_into(const float* b, int k, int n, int ldb, float* out) {
  const int panels = (n + kPanel - 1) / kPanel;
  for (int p = 0; p < panels; ++p) {
    const int col0 = p * kPanel;
    const int width = n - col0 < kPanel ? n - col0 : kPanel;
    float* dst = out + static_cast<size_t>(p) * k * kPanel;
    for (int kk = 0; kk < k; ++kk) {
      float* row = dst + static_cast<size_t>(kk) * kPanel;
      std::memcpy(row, b + static_cast<size_t>(kk) * ldb + col0, width * sizeof(float));
      for (int j = width; j < kPanel; ++j) row[j] = 0.0f;
    }
  }
}

PackedMatrix pack_nk(const float* b, int n, int k, int ldb) {
  PackedMatrix m;
  m.n = n;
  m.k = k;
  m.data = aligned_alloc_floats(packed_size(n, k));
  pack_nk_into(b, n, k, ldb, m.data.get());
  return m;
}

PackedMatrix pack_kn(const float* b, int k, int n, int ldb) {
  PackedMatrix m;
  m.n = n;
  m.k = k;
  m.data = aligned_alloc_floats(packed_size(n, k));
  pack_kn_into(b, k, n, ldb, m.data.get());
  return m;
}

}  // namespace chorus::kernels
