import { describe, expect, it } from 'vitest';
import { cpuClassOf, describeCpuinfo, formatCpuLine, parseCpuinfo } from '../../src/engine/cpu-class.js';

const base = 'fpu sse sse2 ssse3 sse4_1 sse4_2 avx'.split(' ');
const avx2 = [...base, 'avx2', 'fma', 'f16c'];
const avx512 = [...avx2, 'avx512f', 'avx512bw', 'avx512vl', 'avx512dq', 'avx512cd'];

describe('cpuClassOf', () => {
  it('maps x86 flag sets to the classes of issue 21', () => {
    expect(cpuClassOf(avx2, 'x64')).toBe('AVX2 only (no AVX-512, no VNNI)');
    expect(cpuClassOf([...avx2, 'avx_vnni'], 'x64')).toBe('AVX2 + AVX-VNNI (no AVX-512)');
    expect(cpuClassOf(avx512, 'x64')).toBe('AVX-512 (no VNNI)');
    expect(cpuClassOf([...avx512, 'avx512_vnni'], 'x64')).toBe('AVX-512 VNNI (no BF16, no AMX)');
    expect(cpuClassOf([...avx512, 'avx512_vnni', 'avx512_bf16'], 'x64')).toBe('AVX-512 VNNI/BF16 (no AMX)');
    expect(cpuClassOf([...avx512, 'avx512_vnni', 'avx512_bf16', 'amx_tile', 'amx_bf16', 'amx_int8'], 'x64')).toBe(
      'AMX (AVX-512 VNNI/BF16 + AMX tiles)',
    );
    expect(cpuClassOf(base, 'x64')).toBe('x86-64 without AVX2/FMA (scalar kernels)');
  });

  it('needs every AVX-512 subset the kernels use, and FMA with AVX2', () => {
    // AVX-512F without BW/VL/DQ (Knights Landing) runs the AVX2 kernels
    expect(cpuClassOf([...avx2, 'avx512f', 'avx512cd'], 'x64')).toBe('AVX2 only (no AVX-512, no VNNI)');
    expect(cpuClassOf([...base, 'avx2'], 'x64')).toBe('x86-64 without AVX2/FMA (scalar kernels)');
    expect(cpuClassOf([...base, 'avx2', 'fma'], 'x64')).toBe('AVX2 only (no AVX-512, no VNNI, no F16C)');
  });

  it('maps arm64 Features', () => {
    expect(cpuClassOf(['fp', 'asimd', 'crc32'], 'arm64')).toBe('arm64 NEON only (no dotprod)');
    expect(cpuClassOf(['fp', 'asimd', 'asimddp'], 'arm64')).toBe('arm64 NEON/dotprod');
    expect(cpuClassOf(['fp', 'asimd', 'asimddp', 'i8mm', 'bf16', 'sve', 'sve2'], 'arm64')).toBe(
      'arm64 NEON/dotprod/i8mm/bf16, SVE2',
    );
    expect(cpuClassOf(['fp'], 'arm64')).toBe('arm64 without NEON (scalar kernels)');
  });
});

describe('describeCpuinfo', () => {
  it('reads the first processor of an x86 /proc/cpuinfo', () => {
    const text =
      'processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\nmodel name\t: AMD EPYC\n' +
      `flags\t\t: ${[...avx512, 'avx512_vnni', 'avx512_bf16'].join(' ')}\n\nprocessor\t: 1\nvendor_id\t: Other\n`;
    expect(parseCpuinfo(text).get('vendor_id')).toBe('AuthenticAMD');
    const cpu = describeCpuinfo(text, 'x64');
    expect(cpu).toMatchObject({ model: 'AMD EPYC', vendor: 'AuthenticAMD family 25 model 17', cpuClass: 'AVX-512 VNNI/BF16 (no AMX)' });
    expect(formatCpuLine({ ...cpu, cores: 2, kernels: 'avx2', forcedIsa: 'avx2' })).toBe(
      'CPU: AMD EPYC (AuthenticAMD family 25 model 17), 2 cores, class AVX-512 VNNI/BF16 (no AMX), kernels avx2 (CHORUS_ISA=avx2)',
    );
  });

  it('reads an arm64 /proc/cpuinfo (Features, implementer and part)', () => {
    const text =
      'processor\t: 0\nBogoMIPS\t: 243.75\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\n' +
      'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n\nprocessor\t: 1\n';
    const cpu = describeCpuinfo(text, 'arm64');
    expect(cpu.vendor).toBe('arm implementer 0x41 part 0xd0c');
    expect(cpu.cpuClass).toBe('arm64 NEON/dotprod');
  });

  it('says when there are no flags to read', () => {
    expect(describeCpuinfo(null, 'x64').cpuClass).toBe('x64 (flags unknown)');
  });
});
