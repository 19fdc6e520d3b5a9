// The real FFT on 4-lane NEON vectors (aarch64), one frame per lane.
#include "fft_impl.h"
#include "vec_neon.h"

namespace chorus::kernels::detail {

const FftKernel kFftNeon = {&stft_impl<V4>};

}  // namespace chorus::kernels::detail
