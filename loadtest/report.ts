// The shape of report.json, which report.html and latency.png are drawn from.
import type { ClientEncoding } from './audio-frames.js';
import type { CapacityCriteria, SearchLimits, SearchOutcome, Verdict } from './find-max.js';
import type { HttpBenchReport } from './http-bench.js';
import type { LevelReport } from './load-run.js';

export interface JudgedLevel extends LevelReport {
  verdict: Verdict;
  /** WER of an `npm run eval` report's offline hypotheses of the same clips (--offline), else null */
  offlineWer: number | null;
  /** with --overload: judgeOverload's verdict (past capacity, degrading gracefully) */
  overload?: Verdict;
}

export interface LoadTestReport {
  date: string;
  /** the load generator's CPU (cpuClassLine), the gateway's too when it runs on the same machine */
  cpu?: string;
  wallS: number;
  target: { url: string; httpBase: string };
  settings: {
    encoding: ClientEncoding;
    rate: number;
    speed: number;
    durationS: number;
    rampS: number;
    drainTimeoutS: number;
    /** the evaluation sets or the files played */
    audio: string;
    /** each level's sessions were two-speaker calls sent this way; absent: one-channel streams */
    calls?: { transport: 'ws' | 'twilio'; channels: number; sinkFile: string | null };
  };
  criteria: CapacityCriteria;
  /** in the order they ran */
  levels: JudgedLevel[];
  findMax: (SearchOutcome & SearchLimits) | null;
  http: HttpBenchReport | null;
}

/** What a level counts: calls when the sessions were calls, else streams. */
export function unitOf(report: Pick<LoadTestReport, 'settings'>): 'streams' | 'calls' {
  return report.settings.calls ? 'calls' : 'streams';
}
