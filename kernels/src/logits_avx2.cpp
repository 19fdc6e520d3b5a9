// Logit reductions on 8-lane AVX2 vectors.
#include "internal.h"
#include "logits_impl.h"
#include "vec_avx2.h"

namespace chorus::kernels::detail {

const LogitsKernel kLogitsAvx2 = {&logit_stats_impl<V8>, &top_k_impl<V8>};

}  // namespace chorus::kernels::detail
