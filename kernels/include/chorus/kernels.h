// Compute kernels shared by every model op. Each kernel has a scalar reference
// (kernels/src/reference.cpp) and instruction-set variants chosen once at run time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace chorus::kernels {

class ThreadPool;

enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2 };

// Best instruction set this CPU supports among the compiled variants.
Isa detect_isa();
// Active instruction set; tests and benchmarks may force a lower one.
Isa active_isa();
void force_isa(Isa isa);
const char* isa_name(Isa isa);

// Allocation aligned for the widest vector the library uses (64 bytes).
struct AlignedFree { void operator()(float* p) const; };
using AlignedBuffer = std::unique_ptr<float[], AlignedFree>;
AlignedBuffer aligned_alloc_floats(size_t count);

// Right-hand matrix B of a product, repacked into panels of kPanel columns so that the
// micro-kernel streams it contiguously. Logical shape: K rows (reduction) x N columns.
constexpr int kPanel = 16;
struct PackedMatrix {
  int n = 0;  // columns of the product (output features)
  int k = 0;  // reduction length
  AlignedBuffer data;  // ceil(n / kPanel) panels of k * kPanel floats, zero padded
};

// Pack B given as [n][k] rows (PyTorch Linear weight layout: out x in), row stride ldb.
PackedMatrix pack_nk(const float* b, int n, int k, int ldb);
// Pack B given as [k][n] rows, row stride ldb.
PackedMatrix pack_kn(const float* b, int k, int n, int ldb);
// Same, into a caller-owned buffer of at least packed_size(n, k) floats (no allocation).
size_t packed_size(int n, int k);
void pack_nk_into(const float* b, int n, int k, int ldb, float* out);
void pack_kn_into(const float* b, int k, int n, int ldb, float* out);

// C[m][n] = (accumulate ? C[m][n] : 0) + bias[n] + sum_k A[m][k] * B[k][n]
// for rows [0, m) and columns [0, b.n). A has row stride lda, C row stride ldc.
// bias may be null. Splits the work over pool when pool is non-null.
void gemm(int m, const float* a, int lda, const float* packed_b, int n, int k, float* c, int ldc,
          const float* bias, bool accumulate, ThreadPool* pool);
inline void gemm(int m, const float* a, int lda, const PackedMatrix& b, float* c, int ldc,
                 const float* bias, bool accumulate, ThreadPool* pool) {
  gemm(m, a, lda, b.data.get(), b.n, b.k, c, ldc, bias, accumulate, pool);
}

// out[r] = (x[r] - mean) / sqrt(var + eps) * gamma + beta, for each of rows rows of dim.
void layer_norm(const float* x, float* out, int rows, int dim, const float* gamma,
                const float* beta, float eps);
// Exact GELU (erf form, as Whisper uses), in place.
void gelu(float* x, size_t count);
// Numerically stable softmax of each row in place; row stride ld.
void softmax_rows(float* x, int rows, int cols, int ld);
// y += x
void add_inplace(float* y, const float* x, size_t count);

// Fixed-size pool of worker threads; the calling thread takes part in every job.
class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  int size() const;
  // Runs fn(i) for i in [0, count) across the pool and returns when all are done.
  template <typename Fn>
  void parallel_for(int count, Fn&& fn) {
    run(count, [](void* ctx, int i) { (*static_cast<Fn*>(ctx))(i); }, &fn);
  }

 private:
  void run(int count, void (*task)(void*, int), void* ctx);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

namespace reference {
// Plain loops over unpacked B ([n][k] rows), the ground truth for every gemm variant.
void gemm_nk(int m, const float* a, int lda, const float* b, int ldb, int n, int k, float* c,
             int ldc, const float* bias, bool accumulate);
void layer_norm(const float* x, float* out, int rows, int dim, const float* gamma,
                const float* beta, float eps);
void gelu(float* x, size_t count);
void softmax_rows(float* x, int rows, int cols, int ld);
}  // namespace reference

}  // namespace chorus::kernels
