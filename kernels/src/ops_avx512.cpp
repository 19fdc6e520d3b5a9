// Element-wise kernels on 16-lane AVX-512 vectors.
#include <immintrin.h>

#include "internal.h"
#include "simd_ops.h"
#include "vec_avx512.h"

namespace chorus::kernels::detail {

const OpsKernel kOpsAvx512 = {&layer_norm_impl<V16>, &gelu_impl<V16>, &softmax_impl<V16>,
                              &add_impl<V16>};

}  // namespace chorus::kernels::detail
