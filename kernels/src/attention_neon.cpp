// fp16 attention on 4-lane NEON vectors (aarch64): fp16 loads and stores are single conversions.
#include "attention_impl.h"
#include "vec_neon.h"

namespace chorus::kernels::detail {

const AttentionKernel kAttentionNeon = {V4::W, &attention_impl<V4>, &pack_keys_impl<V4>, &to_f16_impl<V4>};

}  // namespace chorus::kernels::detail
