// Element-wise kernels on 4-lane NEON vectors (aarch64).
#include "internal.h"
#include "simd_ops.h"
#include "vec_neon.h"

namespace chorus::kernels::detail {

const OpsKernel kOpsNeon = {&layer_norm_impl<V4>, &gelu_impl<V4>, &softmax_impl<V4>, &add_impl<V4>};

}  // namespace chorus::kernels::detail
