// The real FFT on 16-lane AVX-512 vectors, one frame per lane.
#include "fft_impl.h"
#include "vec_avx512.h"

namespace chorus::kernels::detail {

const FftKernel kFftAvx512 = {&stft_impl<V16>};

}  // namespace chorus::kernels::detail
