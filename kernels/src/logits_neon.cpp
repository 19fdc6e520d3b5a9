// Logit reductions on 4-lane NEON vectors (aarch64).
#include "internal.h"
#include "logits_impl.h"
#include "vec_neon.h"

namespace chorus::kernels::detail {

const LogitsKernel kLogitsNeon = {&logit_stats_impl<V4>, &top_k_impl<V4>};

}  // namespace chorus::kernels::detail
