// Logit reductions on 16-lane AVX-512 vectors.
#include "internal.h"
#include "logits_impl.h"
#include "vec_avx512.h"

namespace chorus::kernels::detail {

const LogitsKernel kLogitsAvx512 = {&logit_stats_impl<V16>, &top_k_impl<V16>};

}  // namespace chorus::kernels::detail
