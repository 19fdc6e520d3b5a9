// Instruction-set selection and aligned allocation.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

#include "internal.h"

namespace chorus::kernels {
namespace {

Isa probe_cpu() {
#if defined(CHORUS_KERNELS_X86) && (defined(__x86_64__) || defined(__i386__))
  // libgcc's probe also checks that the OS saves the wider register state (XCR0).
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("fma")) {
    if (!__builtin_cpu_supports("avx512vnni")) return Isa::Avx512;
    if (!__builtin_cpu_supports("avx512bf16")) return Isa::Avx512Vnni;
    return Isa::Avx512Bf16;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
#endif
  return Isa::Scalar;
}

Isa lower(Isa a, Isa b) { return static_cast<int>(a) < static_cast<int>(b) ? a : b; }

// CHORUS_ISA can only lower the choice: asking for an unsupported set must not crash.
Isa initial_isa() {
  Isa isa = detect_isa();
  if (const char* env = std::getenv("CHORUS_ISA")) {
    if (std::strcmp(env, "scalar") == 0) isa = lower(isa, Isa::Scalar);
    if (std::strcmp(env, "avx2") == 0) isa = lower(isa, Isa::Avx2);
    if (std::strcmp(env, "avx512") == 0) isa = lower(isa, Isa::Avx512);
    if (std::strcmp(env, "avx512vnni") == 0) isa = lower(isa, Isa::Avx512Vnni);
    if (std::strcmp(env, "avx512bf16") == 0) isa = lower(isa, Isa::Avx512Bf16);
  }
  return isa;
}

std::atomic<int> g_active{-1};

}  // namespace

Isa detect_isa() {
  static const Isa isa = probe_cpu();
  return isa;
}

Isa active_isa() {
  int v = g_active.load(std::memory_order_acquire);
  if (v < 0) {
    int expected = -1;
    g_active.compare_exchange_strong(expected, static_cast<int>(initial_isa()),
                                     std::memory_order_acq_rel);
    v = g_active.load(std::memory_order_acquire);
  }
  return static_cast<Isa>(v);
}

void force_isa(Isa isa) {
  g_active.store(static_cast<int>(lower(isa, detect_isa())), std::memory_order_release);
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512Bf16: return "avx512bf16";
    case Isa::Avx512Vnni: return "avx512vnni";
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    case Isa::Scalar: break;
  }
  return "scalar";
}

void AlignedFree::operator()(void* p) const { std::free(p); }

void* aligned_alloc_bytes(size_t bytes) {
  // aligned_alloc wants a multiple of the alignment; never ask for zero bytes so a valid
  // pointer always comes back.
  bytes = (bytes + 63) / 64 * 64;
  if (bytes == 0) bytes = 64;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  return p;
}

AlignedBuffer aligned_alloc_floats(size_t count) {
  return AlignedBuffer(static_cast<float*>(aligned_alloc_bytes(count * sizeof(float))));
}

}  // namespace chorus::kernels
