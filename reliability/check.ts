// What every check of the suite reports: its figures (printed as measured) and the promises it
// found broken. A check fails when one promise is broken; the suite exits non-zero if any did.

export interface CheckResult {
  name: string;
  /** name → value, printed in order */
  figures: Array<[string, string | number]>;
  /** one line per broken promise; empty: passed */
  failures: string[];
  wallS: number;
}

export class CheckRecorder {
  readonly figures: Array<[string, string | number]> = [];
  readonly failures: string[] = [];

  figure(name: string, value: string | number): void {
    this.figures.push([name, typeof value === 'number' ? Math.round(value * 100) / 100 : value]);
  }

  /** Records `what` as broken unless `ok`. */
  expect(ok: boolean, what: string): void {
    if (!ok) this.failures.push(what);
  }
}

export async function runCheck(name: string, body: (r: CheckRecorder) => Promise<void>): Promise<CheckResult> {
  const recorder = new CheckRecorder();
  const started = performance.now();
  process.stdout.write(`\n== ${name}\n`);
  try {
    await body(recorder);
  } catch (error) {
    recorder.failures.push(`threw: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }
  const result: CheckResult = { name, figures: recorder.figures, failures: recorder.failures, wallS: (performance.now() - started) / 1000 };
  for (const [k, v] of result.figures) process.stdout.write(`   ${k}: ${v}\n`);
  for (const f of result.failures) process.stdout.write(`   FAILED: ${f}\n`);
  process.stdout.write(`   ${result.failures.length === 0 ? 'pass' : 'FAIL'} (${result.wallS.toFixed(1)} s)\n`);
  return result;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Seeded PRNG (mulberry32): the same seed gives the same fuzz, run after run. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
