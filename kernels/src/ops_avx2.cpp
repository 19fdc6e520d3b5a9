// Element-wise kernels on 8-lane AVX2 vectors.
#include <immintrin.h>

#include "internal.h"
#include "simd_ops.h"
#include "vec_avx2.h"

namespace chorus::kernels::detail {

const OpsKernel kOpsAvx2 = {&layer_norm_impl<V8>, &gelu_impl<V8>, &softmax_impl<V8>,
                            &add_impl<V8>};

}  // namespace chorus::kernels::detail
