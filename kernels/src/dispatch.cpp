// Instruction-set selection and aligned allocation.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

#include "internal.h"

#if defined(CHORUS_KERNELS_X86) && defined(__x86_64__) && defined(__linux__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(CHORUS_KERNELS_NEON) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)  // glibc before 2.27
#endif
#endif

namespace chorus::kernels {
namespace {

// The AMX tile, BF16 and INT8 extensions (CPUID leaf 7, EDX bits 24, 22, 25) and the
// process's permission to use the 8 KB of tile data: Linux leaves that state off until the
// process asks (arch_prctl ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA), and the first tile
// instruction of a process without it faults. The request also fails where the OS or the
// hypervisor does not enable the state, or a thread's signal stack is too small for it.
bool amx_usable() {
#if defined(CHORUS_KERNELS_X86) && defined(__x86_64__) && defined(__linux__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  constexpr unsigned kAmxBf16 = 1u << 22, kAmxTile = 1u << 24, kAmxInt8 = 1u << 25;
  constexpr unsigned kAmx = kAmxBf16 | kAmxTile | kAmxInt8;
  if ((edx & kAmx) != kAmx) return false;
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

Isa probe_cpu() {
#if defined(CHORUS_KERNELS_X86) && (defined(__x86_64__) || defined(__i386__))
  // libgcc's probe also checks that the OS saves the wider register state (XCR0).
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("fma")) {
    if (!__builtin_cpu_supports("avx512vnni")) return Isa::Avx512;
    if (!__builtin_cpu_supports("avx512bf16")) return Isa::Avx512Vnni;
    if (!amx_usable()) return Isa::Avx512Bf16;
    return Isa::Amx;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
#endif
#if defined(CHORUS_KERNELS_NEON) && defined(__aarch64__)
  // Advanced SIMD, with fp16 conversions and FMA, is part of every AArch64 CPU.
  return Isa::Neon;
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
    if (std::strcmp(env, "amx") == 0) isa = lower(isa, Isa::Amx);
#if defined(CHORUS_KERNELS_NEON)
    // On aarch64 the x86 names have no path of their own: any of them means the portable one.
    // "neon-nodotprod" keeps NEON without sdot (neon_dotprod()).
    if (std::strcmp(env, "neon") != 0 && std::strcmp(env, "neon-nodotprod") != 0 && isa != Isa::Scalar) {
      isa = Isa::Scalar;
    }
#endif
  }
  return isa;
}

std::atomic<int> g_active{-1};

#if defined(CHORUS_KERNELS_NEON)
bool probe_dotprod() {
#if defined(__ARM_FEATURE_DOTPROD)
  return true;  // built for a CPU that has it
#elif defined(__linux__) && defined(__aarch64__)
  return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#else
  return false;
#endif
}
#endif

}  // namespace

#if defined(CHORUS_KERNELS_NEON)
bool detail::neon_dotprod() {
  static const bool on = [] {
    const char* env = std::getenv("CHORUS_ISA");
    return probe_dotprod() && !(env && std::strcmp(env, "neon-nodotprod") == 0);
  }();
  return on;
}
#endif

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
    case Isa::Neon: return "neon";
    case Isa::Amx: return "amx";
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
