// fp16 attention on 16-lane AVX-512 vectors: fp16 loads and stores are single conversions.
#include "attention_impl.h"
#include "vec_avx512.h"

namespace chorus::kernels::detail {

const AttentionKernel kAttentionAvx512 = {V16::W, &attention_impl<V16>, &pack_keys_impl<V16>, &to_f16_impl<V16>};

}  // namespace chorus::kernels::detail
