// Compute kernels shared by every model op. Each kernel has a scalar reference
// (kernels/src/reference.cpp) and instruction-set variants chosen once at run time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace chorus::kernels {

class ThreadPool;

// Ordered levels: each one implies the ones below. AVX-512 VNNI (int8 dot products) and
// AVX-512 BF16 are their own levels so a CPU with AVX-512F alone still gets the AVX-512 fp32
// kernels; no shipping CPU has BF16 without VNNI, so BF16 sits above VNNI. Amx is AVX-512
// BF16 plus the AMX tile, BF16 and INT8 extensions, with the OS's permission to use the
// tile registers (granted to the process on the first detection).
// Neon is the aarch64 path (chosen only in aarch64 builds); the x86 values order the x86 paths.
enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2, Avx512Vnni = 3, Avx512Bf16 = 4, Amx = 5, Neon = 6 };

// Best instruction set this CPU supports among the compiled variants.
Isa detect_isa();
// Active instruction set; tests and benchmarks may force a lower one.
Isa active_isa();
void force_isa(Isa isa);
const char* isa_name(Isa isa);

// Allocation aligned for the widest vector the library uses (64 bytes).
struct AlignedFree { void operator()(void* p) const; };
using AlignedBuffer = std::unique_ptr<float[], AlignedFree>;
AlignedBuffer aligned_alloc_floats(size_t count);
template <typename T>
using AlignedArray = std::unique_ptr<T[], AlignedFree>;
void* aligned_alloc_bytes(size_t bytes);

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

// Int8 weights: each column j of B (row j of a [n][k] weight) is quantised symmetrically,
// q = round(b / scale[j]) in [-127, 127] with scale[j] = max|b_j| / 127. Panels of kPanel
// columns hold ceil(k / 4) groups; a group is 64 bytes, the 4 consecutive k values of each
// of the 16 columns ([column][4]), which is the operand order of a u8 x s8 dot product
// into 16 int32 lanes. Padding (k past k, columns past n) is zero.
struct QuantizedMatrix {
  int n = 0;
  int k = 0;
  int groups() const { return (k + 3) / 4; }
  AlignedArray<int8_t> data;         // ceil(n / kPanel) panels of groups() * 64 bytes
  AlignedArray<float> scale;         // per column, zero past n (whole panels)
  AlignedArray<int32_t> column_sum;  // per column sum of q, for the unsigned-A offset
  size_t bytes() const;
};
QuantizedMatrix quantize_nk(const float* b, int n, int k, int ldb);

// Bf16 weights: B rounded to bfloat16 (nearest even). Panels of kPanel columns hold
// ceil(k / 2) pairs; a pair is 64 bytes, ([column][2]) the 2 consecutive k values of each
// of the 16 columns, the operand order of vdpbf16ps. Padding is zero.
struct Bf16Matrix {
  int n = 0;
  int k = 0;
  int pairs() const { return (k + 1) / 2; }
  AlignedArray<uint16_t> data;  // ceil(n / kPanel) panels of pairs() * 32 values
  size_t bytes() const;
};
Bf16Matrix to_bf16_nk(const float* b, int n, int k, int ldb);

// A bf16 B operand in Bf16Matrix's layout held in the caller's storage: activations packed
// per call or cached, such as attention's keys (scores = Q K^T) and values (out = P V), so
// that they go through the same tile products as the weights.
struct Bf16Panels {
  const uint16_t* data = nullptr;
  int n = 0;
  int k = 0;
  // values from one panel to the next; 0: bf16_panels_size(kPanel, k), as packed. A cache
  // sized for more k than a product uses keeps its own stride.
  size_t panel_stride = 0;
};
size_t bf16_panels_size(int n, int k);  // in uint16_t values
// B given as [n][k] rows (row j is column j of B), rounded to bf16, padding zeroed.
void pack_bf16_nk(const float* b, int n, int k, int ldb, uint16_t* out);
// B given as [k][n] rows, rounded to bf16, padding zeroed.
void pack_bf16_kn(const float* b, int k, int n, int ldb, uint16_t* out);
// Into panels of panel_stride values, writes columns [j0, j0 + count) of a B with k rows,
// given as rows b[(j - j0) * ldb + kk]; the rest of the panels is left as it was.
void write_bf16_columns(const float* b, int ldb, int j0, int count, int k, size_t panel_stride, uint16_t* out);
// Into panels of panel_stride values, writes rows [r0, r0 + count) of a B with n columns,
// given as rows b[(r - r0) * ldb + j]; the rest of the panels is left as it was.
void write_bf16_rows(const float* b, int ldb, int r0, int count, int n, size_t panel_stride, uint16_t* out);

// C[m][n] = (accumulate ? C[m][n] : 0) + bias[n] + sum_k A[m][k] * B[k][n]
// for rows [0, m) and columns [0, b.n). A has row stride lda, C row stride ldc.
// bias may be null. Splits the work over pool when pool is non-null.
void gemm(int m, const float* a, int lda, const float* packed_b, int n, int k, float* c, int ldc,
          const float* bias, bool accumulate, ThreadPool* pool);
inline void gemm(int m, const float* a, int lda, const PackedMatrix& b, float* c, int ldc,
                 const float* bias, bool accumulate, ThreadPool* pool) {
  gemm(m, a, lda, b.data.get(), b.n, b.k, c, ldc, bias, accumulate, pool);
}

// The same product over int8 weights: each row of A is quantised on the fly like a column of
// B (per-row scale, symmetric), the dot products are exact in int32 and C gets
// a_scale[i] * b.scale[j] * dot + bias[j]. k must not exceed 65536 (int32 headroom).
void gemm(int m, const float* a, int lda, const QuantizedMatrix& b, float* c, int ldc,
          const float* bias, bool accumulate, ThreadPool* pool);
// The same product over bf16 weights, accumulated in fp32. With AVX-512 BF16 and AMX the
// rows of A are rounded to bf16 too (vdpbf16ps, tdpbf16ps); the other variants widen B and
// keep A in fp32.
void gemm(int m, const float* a, int lda, const Bf16Matrix& b, float* c, int ldc,
          const float* bias, bool accumulate, ThreadPool* pool);
void gemm(int m, const float* a, int lda, const Bf16Panels& b, float* c, int ldc,
          const float* bias, bool accumulate, ThreadPool* pool);

// Weight storage chosen at load: one type for every linear layer whatever its precision.
enum class Precision { Fp32 = 0, Bf16 = 1, Int8 = 2 };
const char* precision_name(Precision p);
// false when name is not one of "fp32", "bf16", "int8".
bool parse_precision(const char* name, Precision* out);

struct Weights {
  Precision precision = Precision::Fp32;
  PackedMatrix f32;  // only the member of `precision` is filled
  Bf16Matrix bf16;
  QuantizedMatrix q8;
  int n() const;
  int k() const;
  size_t bytes() const;
};
// B given as [n][k] rows (PyTorch Linear weight layout), stored at precision p.
Weights make_weights(const float* b, int n, int k, int ldb, Precision p);
void gemm(int m, const float* a, int lda, const Weights& b, float* c, int ldc, const float* bias,
          bool accumulate, ThreadPool* pool);
// The variant gemm runs over weights of precision p for m rows at the active instruction set
// ("int8-neon-sdot", "bf16-amx", ...; fp32: the isa's name), for tests and benchmarks to say
// what they measured: some levels hold more than one variant (int8 on NEON with and without
// sdot, on AMX by row count).
const char* weights_variant(Precision p, int m);
// Column j of B as stored (dequantised), i.e. row j of the [n][k] weight, into out[k]: the
// tied token embedding is gathered from the output projection this way.
void column(const PackedMatrix& b, int j, float* out);
void column(const QuantizedMatrix& b, int j, float* out);
void column(const Bf16Matrix& b, int j, float* out);
void column(const Weights& b, int j, float* out);

// Scores of a tied output projection, where only the top of each row decides anything: the
// greedy and beam choices, and a log-sum-exp that the top dominates. At one row a step is
// bound by reading the matrix (51,864 x 384 for Whisper tiny), so the whole matrix is read as
// int8 (half of bf16) and only the columns that can be near a row's top are scored again from
// the bf16 panels, bit for bit as gemm over the bf16 matrix scores them:
//  - every column from exact_from on (Whisper's special tokens and timestamps, whose ranges
//    the decoding rules compare with each other), and
//  - each panel of [0, exact_from) holding a column whose int8 score is within kRankMargin
//    standard deviations of that score's rounding error of the row's int8 maximum there,
//    and more under it while the rest could move the row's log-sum-exp by kRankTailError.
// The other columns keep their int8 scores: within a few rounding errors of the bf16 ones,
// and far enough below the top that they could not change a choice.
struct RankedMatrix {
  QuantizedMatrix coarse;
  // For the rounding error's standard deviation: the largest column norm (of the bf16
  // columns) and the largest column scale (one rounding step of a weight).
  float column_norm = 0.0f;
  float column_step = 0.0f;
  size_t bytes() const { return coarse.bytes(); }
};
// The int8 copy that ranks the columns of exact.
RankedMatrix rank_copy(const Bf16Matrix& exact);
// Measured on Whisper tiny.en and base over 12,352 decoder steps of ../shared/eval: the
// column that bf16 scores highest never scored more than 2.03 deviations under the int8
// maximum (int8 alone picked another column on 2.7 % of the steps).
constexpr float kRankMargin = 4.0f;
// A flat row (music, a word the model is unsure of) holds much of its mass under the margin,
// where int8's errors moved the log-sum-exp by up to 0.2 (base): the floor then goes down a
// margin at a time until the int8 columns' share of the row's int8 mass, times the deviation
// of an int8 score's error (about the most they can move the log-sum-exp by), is under this.
constexpr double kRankTailError = 0.05;
// The margin of one row of A: kRankMargin times the standard deviation that rounding A's row
// (step max|a| / 127) and a column (step column_step) to int8 gives its score, both errors
// uniform over a step.
float rank_margin(const float* a, int k, const RankedMatrix& ranked);
// Panels of kPanel columns scored again from bf16, summed over calls, for benchmarks.
struct RankedCounts {
  long long rows = 0;
  long long panels = 0;
};
void gemm_ranked(int m, const float* a, int lda, const RankedMatrix& ranked, const Bf16Matrix& exact, int exact_from,
                 float* c, int ldc, ThreadPool* pool, RankedCounts* counts = nullptr);

// bfloat16 conversions: round to nearest even (NaN stays NaN), and exact widening.
uint16_t to_bf16(float x);
float from_bf16(uint16_t x);

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
// The symmetric int8 quantisation of one vector (a row of A or a column of B):
// scale = max|x| / 127, q[i] = round-half-even(x[i] * (127 / max|x|)), both in float; an
// all-zero vector gets scale 0 and q = 0.
void quantize_symmetric(const float* x, int k, int8_t* q, float* scale);
// Ground truth of the int8 gemm: A rows and B columns quantised by quantize_symmetric,
// integer dot products, then scale_a * scale_b * dot (+ bias) in double.
void gemm_q8_nk(int m, const float* a, int lda, const float* b, int ldb, int n, int k, float* c,
                int ldc, const float* bias, bool accumulate);
// Ground truth of the bf16 gemm: B rounded to bf16, A in fp32 (round_a: A rounded to bf16
// as well, which is what vdpbf16ps computes), reductions in double.
void gemm_bf16_nk(int m, const float* a, int lda, const float* b, int ldb, int n, int k,
                  float* c, int ldc, const float* bias, bool accumulate, bool round_a);
}  // namespace reference

}  // namespace chorus::kernels

// ---- Short-time Fourier transform --------------------------------------------------------

namespace chorus::kernels {

// Real-input FFT of even size n: a complex FFT of size n / 2 over (x[2j], x[2j + 1]) and one
// split pass. n / 2 is factored into radix 4, 2, 3 and 5 stages; any other prime factor p
// gets a generic O(p^2) stage, so every even n works, fastest when n / 2 = 2^a 3^b 5^c.
struct FftPlan {
  int n = 0;
  std::vector<int> radices;     // stages of the size n / 2 transform, in order
  std::vector<float> twiddles;  // per stage, (cos, -sin) of 2 pi p k / len for each p, k >= 1
  std::vector<float> roots;     // per generic stage, (cos, -sin) of 2 pi j / radix
  std::vector<float> split;     // (cos, sin) of 2 pi k / n for k in [0, n / 2]
};
FftPlan make_fft_plan(int n);  // throws std::invalid_argument for odd or non-positive n

// Spectra of `frames` frames of x, frame f being x[f * hop .. f * hop + n) times window
// (n values; null for none). Bin b of frame f goes to re[b * ld + f] and im[b * ld + f],
// b in [0, n / 2] (frames contiguous per bin, ld >= frames), e^{-2 pi i b t / n} convention.
void stft(const FftPlan& plan, const float* x, int hop, int frames, const float* window, float* re,
          float* im, int ld, ThreadPool* pool);
// Same, writing the power re^2 + im^2 only.
void stft_power(const FftPlan& plan, const float* x, int hop, int frames, const float* window,
                float* power, int ld, ThreadPool* pool);

// ---- Attention over fp16 keys and values ---------------------------------------------------

// IEEE binary16 values, converted with round to nearest even (F16C where available, the
// same bits in software otherwise).
using Half = uint16_t;

// Keys are stored in panels of kPanel keys: panel p holds, for each dimension d of head_dim,
// the kPanel values of keys [kPanel * p, kPanel * p + kPanel), so that one load gives
// kPanel scores' worth of one dimension. Key t, dimension d is at
// (t / kPanel) * head_dim * kPanel + d * kPanel + t % kPanel. Values are plain rows [t][ldv].
size_t key_panels_size(int keys, int head_dim);  // in Halfs
// Writes keys [t0, t0 + count), given as rows k[i * ldk + d], into their panel slots.
void pack_keys_f16(const float* k, int ldk, int count, int head_dim, Half* panels, int t0);
// out[r * ldo + c] = half(x[r * ldx + c])
void to_f16(const float* x, int ldx, int rows, int cols, Half* out, int ldo);
void from_f16(const Half* x, int ldx, int rows, int cols, float* out, int ldo);

struct AttentionF16 {
  int n = 0;               // query rows
  const float* q = nullptr;
  int ldq = 0;
  const Half* k = nullptr;  // key panels, at least key_panels_size(t, head_dim)
  const Half* v = nullptr;  // value rows
  int ldv = 0;
  int t = 0;               // keys and values, >= 1
  int head_dim = 0;
  float scale = 1.0f;      // applied to q . k
  // The rows are the last n positions of a causal sequence: row i sees keys [0, t - n + 1 + i).
  bool causal = false;
  float* out = nullptr;    // [n][ldo], head_dim values per row
  int ldo = 0;
  float* scratch = nullptr;       // attention_scratch_size(n, t, head_dim) floats
  float* last_weights = nullptr;  // optional: the t softmax weights of row n - 1
};
size_t attention_scratch_size(int n, int t, int head_dim);
// out = softmax(scale * q K^T) V per row: scores for all keys into scratch (L1/L2 resident),
// an exact softmax over them, then one pass over V; K and V are each read once per 4 rows.
void attention_f16(const AttentionF16& a);

namespace reference {
// Plain DFT in double of one real frame (n values): re/im of bins [0, n / 2].
void real_dft(const float* x, int n, double* re, double* im);
// Attention in double over fp32 rows k[t][ldk], v[t][ldv] with the same masking; weights, if
// non-null, receives row n - 1's softmax.
void attention(int n, const float* q, int ldq, const float* k, int ldk, const float* v, int ldv, int t,
               int head_dim, float scale, bool causal, float* out, int ldo, float* weights);
}  // namespace reference

}  // namespace chorus::kernels

// ---- Vocabulary reductions (one decoder step's logits) ---------------------------------------

namespace chorus::kernels {

// One range of a row: the largest value, the index of its first occurrence and
// log(sum exp x). -inf entries add exactly 0; a range of only -inf has max and log_sum_exp
// -inf and argmax its first index; an empty range has argmax -1.
struct RangeStats {
  float max;
  int argmax;
  double log_sum_exp;
};
// Statistics of x[0, split) and x[split, n) in one call: Whisper's text tokens and its
// timestamps. x must hold no NaN; n must not exceed 2^24 (indices are tracked in float lanes).
void logit_stats(const float* x, int n, int split, RangeStats* head, RangeStats* tail);
// Indices of the k largest values of x[0, n), largest first, equal values by lower index:
// what a stable sort by decreasing value would put first. Writes min(k, n) indices and
// returns that count. Meant for small k (beam widths); x must hold no NaN.
int top_k(const float* x, int n, int k, int* out);

namespace reference {
// Two plain passes per range, the sum of exponentials in double.
void logit_stats(const float* x, int n, int split, RangeStats* head, RangeStats* tail);
// A stable sort of the indices by decreasing value.
int top_k(const float* x, int n, int k, int* out);
}  // namespace reference

}  // namespace chorus::kernels

// ---- Convolution stem ------------------------------------------------------------------------

namespace chorus::kernels {

// The input of a 1-d convolution: `channels` signals of `frames` frames, of which frames
// [first, frames) are stored, channel c, frame t at data[c * channel_stride + (t - first) *
// frame_stride]. Log-mel is [channel][frame] (frame_stride 1); conv1's output is
// [frame][channel] (channel_stride 1), and a streaming window keeps only its later frames.
struct Conv1dInput {
  const float* data;
  int channels;
  int frames;
  int first;
  ptrdiff_t channel_stride;
  ptrdiff_t frame_stride;
};
// Rows [f0, f1) of the im2col matrix of a kernel-3, padding-1 convolution with the given
// stride, so that the convolution is a product with its [out][channels * 3] weight: row
// f - f0 of cols (row stride ldc) holds x(c, stride * f + tap - 1) at c * 3 + tap, zero for
// frames outside [0, frames). Throws std::invalid_argument if a tap falls on a frame in
// [0, frames) before `first`.
void conv1d_k3_cols(const Conv1dInput& x, int stride, int f0, int f1, float* cols, int ldc);

namespace reference {
// The convolution itself, by direct loops in double: y[(f - f0) * ldy + o] = bias[o] +
// sum over c, tap of w[(o * channels + c) * 3 + tap] * x(c, stride * f + tap - 1) (zero padded).
// bias may be null.
void conv1d_k3(const Conv1dInput& x, int stride, int f0, int f1, const float* w, const float* bias, int out_channels,
               float* y, int ldy);
}  // namespace reference

}  // namespace chorus::kernels
