// fp16 attention on 8-lane AVX2 (with F16C) vectors: fp16 loads and stores are single conversions.
#include "attention_impl.h"
#include "vec_avx2.h"

namespace chorus::kernels::detail {

const AttentionKernel kAttentionAvx2 = {V8::W, &attention_impl<V8>, &pack_keys_impl<V8>, &to_f16_impl<V8>};

}  // namespace chorus::kernels::detail
