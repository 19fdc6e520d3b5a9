// Int8 and bf16 weights: conversion at load, the public gemm entries (variant choice, A
// preparation, split over the pool) and the precision-tagged Weights wrapper.
#include <cstring>
#include <vector>

#include "internal.h"

namespace chorus::kernels {
namespace {

// With one or two rows VNNI is faster than AMX (kernels/README.md, "AMX"): a tile product
// costs the same for 1 row as for 16, while VNNI's 1- and 2-row tiles keep several partial
// sums in flight. Both compute the same integers and the same float epilogue, so a row's
// result does not depend on which kernel its batch size picks.
constexpr int kQ8AmxMinRows = 3;

const detail::LowpKernel& q8_kernel(Isa isa, int m) {
#if defined(CHORUS_KERNELS_X86)
  if (isa >= Isa::Amx && m >= kQ8AmxMinRows) return detail::kQ8Amx;
  if (isa >= Isa::Avx512Vnni) return detail::kQ8Vnni;
  // AVX-512F/BW without VNNI has no byte dot product; the AVX2 int16 kernel is as good.
  if (isa >= Isa::Avx2) return detail::kQ8Avx2;
#endif
#if defined(CHORUS_KERNELS_NEON)
  if (isa == Isa::Neon) return detail::neon_dotprod() ? detail::kQ8NeonDot : detail::kQ8Neon;
#endif
  (void)isa;
  (void)m;
  return detail::kQ8Scalar;
}

// AMX for every row count, decoder steps included: tdpbf16ps rounds its sums differently
// from vdpbf16ps, so switching by m would give a hypothesis other logits alone than batched.
const detail::LowpKernel& bf16_kernel(Isa isa) {
#if defined(CHORUS_KERNELS_X86)
  if (isa >= Isa::Amx) return detail::kBf16Amx;
  if (isa >= Isa::Avx512Bf16) return detail::kBf16Native;
  if (isa >= Isa::Avx512) return detail::kBf16Avx512;
  if (isa >= Isa::Avx2) return detail::kBf16Avx2;
#endif
#if defined(CHORUS_KERNELS_NEON)
  // Not bfdot or bfmmla even where the CPU has them (FEAT_BF16): they round A to bf16 and
  // sum in their own order, so they would have to serve every m as AMX does on x86, and no
  // arm64 machine was at hand to show they pay for that.
  if (isa == Isa::Neon) return detail::kBf16Neon;
#endif
  (void)isa;
  return detail::kBf16Scalar;
}

// Inline for the packing loops, which round every activation they store.
inline uint16_t round_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
  u += 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

size_t panels_of(int n) { return (static_cast<size_t>(n) + kPanel - 1) / kPanel; }

// Prepared rows of A, per calling thread, grown to the largest product seen: steady-state
// decoding allocates nothing.
struct PreparedRows {
  AlignedArray<uint8_t> bytes;
  size_t byte_capacity = 0;
  AlignedArray<float> scale;
  size_t row_capacity = 0;
};

PreparedRows& prepared_rows(size_t bytes, int rows) {
  thread_local PreparedRows p;
  if (bytes > p.byte_capacity) {
    p.bytes.reset(static_cast<uint8_t*>(aligned_alloc_bytes(bytes)));
    p.byte_capacity = bytes;
  }
  if (static_cast<size_t>(rows) > p.row_capacity) {
    p.scale.reset(static_cast<float*>(aligned_alloc_bytes(rows * sizeof(float))));
    p.row_capacity = rows;
  }
  return p;
}

// C = (accumulate ? C : 0) + bias when there is nothing to reduce.
void bias_only(int m, int n, float* c, int ldc, const float* bias, bool accumulate) {
  for (int i = 0; i < m; ++i) {
    float* ci = c + static_cast<size_t>(i) * ldc;
    for (int j = 0; j < n; ++j) ci[j] = (accumulate ? ci[j] : 0.0f) + (bias ? bias[j] : 0.0f);
  }
}

void run_lowp(const detail::LowpKernel& kern, detail::LowpArgs g, int m, ThreadPool* pool) {
  const size_t row_bytes = kern.row_bytes(g.k);
  if (row_bytes > 0) {
    // Room for whole tiles of mr rows, which the interleaved layouts fill.
    const int rows = (m + kern.mr - 1) / kern.mr * kern.mr;
    PreparedRows& p = prepared_rows(row_bytes * rows, rows);
    g.a = p.bytes.get();
    g.a_stride = row_bytes;
    g.a_scale = p.scale.get();
    // A multiple of every variant's mr (2, 3, 4, 12) and of AMX's 16-row tiles, so no two
    // tasks share a tile.
    constexpr int kRowsPerTask = 48;
    const int tasks = (m + kRowsPerTask - 1) / kRowsPerTask;
    auto prepare = [&](int t) {
      const int r0 = t * kRowsPerTask;
      const int r1 = m - r0 < kRowsPerTask ? m : r0 + kRowsPerTask;
      kern.prepare(g.a_f32, g.lda, r0, r1, g.k, p.bytes.get(), row_bytes, p.scale.get());
    };
    if (pool && pool->size() > 1 && tasks > 1) {
      pool->parallel_for(tasks, [&](int t) { prepare(t); });
    } else {
      for (int t = 0; t < tasks; ++t) prepare(t);
    }
  }
  const int panels = static_cast<int>(panels_of(g.n));
  detail::split_product(m, panels, kern.mr, kern.np, static_cast<double>(m) * g.n * g.k, pool,
                        [&](int r0, int r1, int p0, int p1) { kern.run(g, r0, r1, p0, p1); });
}

}  // namespace

uint16_t to_bf16(float x) { return round_bf16(x); }

float from_bf16(uint16_t x) {
  const uint32_t u = static_cast<uint32_t>(x) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

size_t QuantizedMatrix::bytes() const {
  const size_t panels = panels_of(n);
  return panels * groups() * 64 + panels * kPanel * (sizeof(float) + sizeof(int32_t));
}

size_t Bf16Matrix::bytes() const { return panels_of(n) * pairs() * 64; }

QuantizedMatrix quantize_nk(const float* b, int n, int k, int ldb) {
  QuantizedMatrix m;
  m.n = n;
  m.k = k;
  const size_t panels = panels_of(n);
  const size_t panel_bytes = static_cast<size_t>(m.groups()) * 64;
  m.data.reset(static_cast<int8_t*>(aligned_alloc_bytes(panels * panel_bytes)));
  m.scale.reset(static_cast<float*>(aligned_alloc_bytes(panels * kPanel * sizeof(float))));
  m.column_sum.reset(static_cast<int32_t*>(aligned_alloc_bytes(panels * kPanel * sizeof(int32_t))));
  std::memset(m.data.get(), 0, panels * panel_bytes);
  std::memset(m.scale.get(), 0, panels * kPanel * sizeof(float));
  std::memset(m.column_sum.get(), 0, panels * kPanel * sizeof(int32_t));
  std::vector<int8_t> q(k);
  for (int col = 0; col < n; ++col) {
    reference::quantize_symmetric(b + static_cast<size_t>(col) * ldb, k, q.data(), &m.scale[col]);
    int8_t* panel = m.data.get() + (col / kPanel) * panel_bytes + (col % kPanel) * 4;
    int32_t sum = 0;
    for (int kk = 0; kk < k; ++kk) {
      panel[(kk / 4) * 64 + kk % 4] = q[kk];
      sum += q[kk];
    }
    m.column_sum[col] = sum;
  }
  return m;
}

size_t bf16_panels_size(int n, int k) { return panels_of(n) * ((static_cast<size_t>(k) + 1) / 2) * 32; }

namespace {
// Column col, reduction index kk of a B whose panels are panel_stride values apart.
size_t bf16_slot(int col, int kk, size_t panel_stride) {
  return (col / kPanel) * panel_stride + (kk / 2) * 32 + (col % kPanel) * 2 + kk % 2;
}
size_t packed_panel_stride(int k) { return ((static_cast<size_t>(k) + 1) / 2) * 32; }
}  // namespace

void write_bf16_columns(const float* b, int ldb, int j0, int count, int k, size_t panel_stride, uint16_t* out) {
  for (int i = 0; i < count; ++i) {
    const float* src = b + static_cast<size_t>(i) * ldb;
    for (int kk = 0; kk < k; ++kk) out[bf16_slot(j0 + i, kk, panel_stride)] = round_bf16(src[kk]);
  }
}

void write_bf16_rows(const float* b, int ldb, int r0, int count, int n, size_t panel_stride, uint16_t* out) {
  for (int i = 0; i < count; ++i) {
    const float* src = b + static_cast<size_t>(i) * ldb;
    for (int col = 0; col < n; ++col) out[bf16_slot(col, r0 + i, panel_stride)] = round_bf16(src[col]);
  }
}

void pack_bf16_nk(const float* b, int n, int k, int ldb, uint16_t* out) {
  std::memset(out, 0, bf16_panels_size(n, k) * sizeof(uint16_t));
  write_bf16_columns(b, ldb, 0, n, k, packed_panel_stride(k), out);
}

void pack_bf16_kn(const float* b, int k, int n, int ldb, uint16_t* out) {
  std::memset(out, 0, bf16_panels_size(n, k) * sizeof(uint16_t));
  write_bf16_rows(b, ldb, 0, k, n, packed_panel_stride(k), out);
}

Bf16Matrix to_bf16_nk(const float* b, int n, int k, int ldb) {
  Bf16Matrix m;
  m.n = n;
  m.k = k;
  m.data.reset(static_cast<uint16_t*>(aligned_alloc_bytes(bf16_panels_size(n, k) * sizeof(uint16_t))));
  pack_bf16_nk(b, n, k, ldb, m.data.get());
  return m;
}

void gemm(int m, const float* a, int lda, const QuantizedMatrix& b, float* c, int ldc,
          const float* bias, bool accumulate, ThreadPool* pool) {
  if (m <= 0 || b.n <= 0) return;
  if (b.k <= 0) return bias_only(m, b.n, c, ldc, bias, accumulate);
  detail::LowpArgs g{};
  g.a_f32 = a;
  g.lda = lda;
  g.b = reinterpret_cast<const uint8_t*>(b.data.get());
  g.panel_bytes = static_cast<size_t>(b.groups()) * 64;
  g.b_scale = b.scale.get();
  g.b_sum = b.column_sum.get();
  g.n = b.n;
  g.k = b.k;
  g.c = c;
  g.ldc = ldc;
  g.bias = bias;
  g.accumulate = accumulate;
  run_lowp(q8_kernel(active_isa(), m), g, m, pool);
}

void gemm(int m, const float* a, int lda, const Bf16Panels& b, float* c, int ldc,
          const float* bias, bool accumulate, ThreadPool* pool) {
  if (m <= 0 || b.n <= 0) return;
  if (b.k <= 0) return bias_only(m, b.n, c, ldc, bias, accumulate);
  detail::LowpArgs g{};
  g.a_f32 = a;
  g.lda = lda;
  g.b = reinterpret_cast<const uint8_t*>(b.data);
  g.panel_bytes = (b.panel_stride != 0 ? b.panel_stride : packed_panel_stride(b.k)) * sizeof(uint16_t);
  g.n = b.n;
  g.k = b.k;
  g.c = c;
  g.ldc = ldc;
  g.bias = bias;
  g.accumulate = accumulate;
  run_lowp(bf16_kernel(active_isa()), g, m, pool);
}

void gemm(int m, const float* a, int lda, const Bf16Matrix& b, float* c, int ldc,
          const float* bias, bool accumulate, ThreadPool* pool) {
  gemm(m, a, lda, Bf16Panels{b.data.get(), b.n, b.k}, c, ldc, bias, accumulate, pool);
}

void column(const PackedMatrix& b, int j, float* out) {
  const float* panel = b.data.get() + static_cast<size_t>(j / kPanel) * b.k * kPanel;
  for (int kk = 0; kk < b.k; ++kk) out[kk] = panel[static_cast<size_t>(kk) * kPanel + j % kPanel];
}

void column(const QuantizedMatrix& b, int j, float* out) {
  const int8_t* panel = b.data.get() + static_cast<size_t>(j / kPanel) * b.groups() * 64 + (j % kPanel) * 4;
  const float s = b.scale[j];
  for (int kk = 0; kk < b.k; ++kk) out[kk] = s * panel[(kk / 4) * 64 + kk % 4];
}

void column(const Bf16Matrix& b, int j, float* out) {
  const uint16_t* panel = b.data.get() + static_cast<size_t>(j / kPanel) * b.pairs() * 32 + (j % kPanel) * 2;
  for (int kk = 0; kk < b.k; ++kk) out[kk] = from_bf16(panel[(kk / 2) * 32 + kk % 2]);
}

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::Bf16: return "bf16";
    case Precision::Int8: return "int8";
    case Precision::Fp32: break;
  }
  return "fp32";
}

bool parse_precision(const char* name, Precision* out) {
  for (Precision p : {Precision::Fp32, Precision::Bf16, Precision::Int8}) {
    if (std::strcmp(name, precision_name(p)) == 0) {
      *out = p;
      return true;
    }
  }
  return false;
}

int Weights::n() const {
  switch (precision) {
    case Precision::Bf16: return bf16.n;
    case Precision::Int8: return q8.n;
    case Precision::Fp32: break;
  }
  return f32.n;
}

int Weights::k() const {
  switch (precision) {
    case Precision::Bf16: return bf16.k;
    case Precision::Int8: return q8.k;
    case Precision::Fp32: break;
  }
  return f32.k;
}

size_t Weights::bytes() const {
  switch (precision) {
    case Precision::Bf16: return bf16.bytes();
    case Precision::Int8: return q8.bytes();
    case Precision::Fp32: break;
  }
  return packed_size(f32.n, f32.k) * sizeof(float);
}

Weights make_weights(const float* b, int n, int k, int ldb, Precision p) {
  Weights w;
  w.precision = p;
  switch (p) {
    case Precision::Bf16: w.bf16 = to_bf16_nk(b, n, k, ldb); break;
    case Precision::Int8: w.q8 = quantize_nk(b, n, k, ldb); break;
    case Precision::Fp32: w.f32 = pack_nk(b, n, k, ldb); break;
  }
  return w;
}

void gemm(int m, const float* a, int lda, const Weights& b, float* c, int ldc, const float* bias,
          bool accumulate, ThreadPool* pool) {
  switch (b.precision) {
    case Precision::Bf16: return gemm(m, a, lda, b.bf16, c, ldc, bias, accumulate, pool);
    case Precision::Int8: return gemm(m, a, lda, b.q8, c, ldc, bias, accumulate, pool);
    case Precision::Fp32: break;
  }
  gemm(m, a, lda, b.f32, c, ldc, bias, accumulate, pool);
}

const char* weights_variant(Precision p, int m) {
  if (p == Precision::Fp32) return isa_name(active_isa());
  const detail::LowpKernel* k = p == Precision::Int8 ? &q8_kernel(active_isa(), m) : &bf16_kernel(active_isa());
  static const struct {
    const detail::LowpKernel* kernel;
    const char* name;
  } names[] = {
#if defined(CHORUS_KERNELS_X86)
      {&detail::kQ8Amx, "int8-amx"},          {&detail::kQ8Vnni, "int8-vnni"},
      {&detail::kQ8Avx2, "int8-avx2"},        {&detail::kBf16Amx, "bf16-amx"},
      {&detail::kBf16Native, "bf16-dpbf16"},  {&detail::kBf16Avx512, "bf16-avx512"},
      {&detail::kBf16Avx2, "bf16-avx2"},
#endif
#if defined(CHORUS_KERNELS_NEON)
      {&detail::kQ8NeonDot, "int8-neon-sdot"}, {&detail::kQ8Neon, "int8-neon"},
      {&detail::kBf16Neon, "bf16-neon"},
#endif
      {&detail::kQ8Scalar, "int8-scalar"},    {&detail::kBf16Scalar, "bf16-scalar"},
  };
  for (const auto& e : names) {
    if (e.kernel == k) return e.name;
  }
  return "unknown";
}

void column(const Weights& b, int j, float* out) {
  switch (b.precision) {
    case Precision::Bf16: return column(b.bf16, j, out);
    case Precision::Int8: return column(b.q8, j, out);
    case Precision::Fp32: break;
  }
  column(b.f32, j, out);
}

}  // namespace chorus::kernels
