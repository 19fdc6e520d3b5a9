// The real FFT on 8-lane AVX2 vectors, one frame per lane.
#include "fft_impl.h"
#include "vec_avx2.h"

namespace chorus::kernels::detail {

const FftKernel kFftAvx2 = {&stft_impl<V8>};

}  // namespace chorus::kernels::detail
