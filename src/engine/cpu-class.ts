// Which CPU class a figure came from (issue 21): the CPU's model and vendor family/model from
// /proc/cpuinfo, its flags summarised as one instruction-set class, and the kernel path the
// native addon chose (kernels/src/dispatch.cpp; CHORUS_ISA can only lower it). The benchmarks
// and the evaluation print `cpuClassLine()` in their headers and store `describeCpu()`.
import { readFileSync } from 'node:fs';
import { arch as osArch, cpus } from 'node:os';

export interface CpuDescription {
  /** model name (x86) or implementer/part (arm64), as /proc/cpuinfo or os.cpus() gives it */
  model: string;
  /** vendor_id with cpu family/model (x86), or "arm implementer 0x41 part 0xd0c" (arm64) */
  vendor: string;
  arch: string;
  cores: number;
  /** the flags summarised, e.g. "AVX-512 VNNI/BF16" or "AVX2 only (no AVX-512, no VNNI)" */
  cpuClass: string;
  /** the instruction set the kernels run ("avx512bf16", "neon", ...), or why it is unknown */
  kernels: string;
  /** CHORUS_ISA when set (it can only lower the path) */
  forcedIsa: string | null;
}

const has = (flags: ReadonlySet<string>, ...names: string[]): boolean => names.every((n) => flags.has(n));

/**
 * The instruction-set class of a CPU from its /proc/cpuinfo flags (x86 "flags", arm64
 * "Features"), in the terms of issue 21 and of the kernel variants (dispatch.cpp needs
 * AVX-512 F/BW/VL/DQ with FMA for any AVX-512 path, AVX2 with FMA for the AVX2 one).
 */
export function cpuClassOf(flagList: readonly string[], arch: string): string {
  const flags = new Set(flagList.map((f) => f.toLowerCase()));
  if (arch === 'arm64' || arch === 'aarch64') {
    if (!flags.has('asimd')) return 'arm64 without NEON (scalar kernels)';
    const extras = [has(flags, 'asimddp') && 'dotprod', flags.has('i8mm') && 'i8mm', flags.has('bf16') && 'bf16']
      .filter(Boolean)
      .join('/');
    const sve = flags.has('sve2') ? ', SVE2' : flags.has('sve') ? ', SVE' : '';
    return extras ? `arm64 NEON/${extras}${sve}` : `arm64 NEON only (no dotprod)${sve}`;
  }
  if (arch !== 'x64' && arch !== 'x86_64' && arch !== 'ia32') return `${arch} (scalar kernels)`;
  const avx512 = has(flags, 'avx512f', 'avx512bw', 'avx512vl', 'avx512dq', 'fma');
  const vnni = flags.has('avx512_vnni');
  const bf16 = flags.has('avx512_bf16');
  if (avx512 && vnni && bf16 && has(flags, 'amx_tile', 'amx_bf16', 'amx_int8')) return 'AMX (AVX-512 VNNI/BF16 + AMX tiles)';
  if (avx512 && vnni && bf16) return 'AVX-512 VNNI/BF16 (no AMX)';
  if (avx512 && vnni) return 'AVX-512 VNNI (no BF16, no AMX)';
  if (avx512) return 'AVX-512 (no VNNI)';
  if (has(flags, 'avx2', 'fma')) {
    const f16c = flags.has('f16c') ? '' : ', no F16C';
    return flags.has('avx_vnni') ? `AVX2 + AVX-VNNI (no AVX-512${f16c})` : `AVX2 only (no AVX-512, no VNNI${f16c})`;
  }
  return 'x86-64 without AVX2/FMA (scalar kernels)';
}

/** The first processor's fields of /proc/cpuinfo text (later processors repeat them). */
export function parseCpuinfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (fields.size > 0) break;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim().toLowerCase();
    if (!fields.has(key)) fields.set(key, line.slice(colon + 1).trim());
  }
  return fields;
}

/** Model, vendor family/model and class from /proc/cpuinfo text (os.cpus() where absent). */
export function describeCpuinfo(text: string | null, arch: string = osArch()): Omit<CpuDescription, 'kernels' | 'forcedIsa'> {
  const fields = text ? parseCpuinfo(text) : new Map<string, string>();
  const flags = (fields.get('flags') ?? fields.get('features') ?? '').split(/\s+/).filter(Boolean);
  const list = cpus();
  let vendor: string;
  if (fields.has('vendor_id')) {
    vendor = `${fields.get('vendor_id')} family ${fields.get('cpu family') ?? '?'} model ${fields.get('model') ?? '?'}`;
  } else if (fields.has('cpu implementer')) {
    vendor = `arm implementer ${fields.get('cpu implementer')} part ${fields.get('cpu part') ?? '?'}`;
  } else {
    vendor = 'unknown vendor';
  }
  const model = fields.get('model name') ?? list[0]?.model.trim() ?? 'unknown CPU';
  return {
    model: model || 'unknown CPU',
    vendor,
    arch,
    cores: list.length,
    cpuClass: flags.length > 0 ? cpuClassOf(flags, arch) : `${arch} (flags unknown)`,
  };
}

/**
 * This machine: /proc/cpuinfo and the addon's kernel choice. `isa` is the kernel path a loaded
 * model reports (model.info.isa); without it the addon is asked, when built.
 */
export async function describeCpu(isa?: string): Promise<CpuDescription> {
  let text: string | null = null;
  try {
    text = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    text = null;
  }
  let kernels = isa;
  if (!kernels) {
    try {
      const { loadNative } = await import('./native.js');
      kernels = loadNative().isa();
    } catch {
      kernels = 'unknown (native addon not built)';
    }
  }
  return { ...describeCpuinfo(text), kernels, forcedIsa: process.env.CHORUS_ISA ?? null };
}

/** One header line, e.g. "CPU: AMD EPYC (AuthenticAMD family 25 model 17), 2 cores, class AVX-512 VNNI/BF16 (no AMX), kernels avx512bf16". */
export function formatCpuLine(cpu: CpuDescription): string {
  const forced = cpu.forcedIsa ? ` (CHORUS_ISA=${cpu.forcedIsa})` : '';
  return `CPU: ${cpu.model} (${cpu.vendor}), ${cpu.cores} cores, class ${cpu.cpuClass}, kernels ${cpu.kernels}${forced}`;
}

export async function cpuClassLine(isa?: string): Promise<string> {
  return formatCpuLine(await describeCpu(isa));
}
