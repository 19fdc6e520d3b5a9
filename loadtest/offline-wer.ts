// The offline WER of exactly the clips a load level's sessions played, from an `npm run eval`
// report (its per-clip offline hypotheses): the baseline the live finals are held to.
import { readFileSync } from 'node:fs';
import { scoreWer } from '../src/eval/wer.js';
import type { SessionRecord } from './level-summary.js';

/** null when the report lacks one of the clips. */
export function offlineWerOf(path: string, sessions: readonly SessionRecord[]): number | null {
  const report = JSON.parse(readFileSync(path, 'utf8')) as { clips: { id: string; ref: string; hyp: string }[] };
  const byId = new Map(report.clips.map((c) => [c.id, c]));
  const admitted = sessions.filter((s) => s.outcome !== 'refused');
  if (!admitted.every((s) => s.clips.every((id) => byId.has(id)))) return null;
  return scoreWer(
    admitted.map((s) => ({
      ref: s.clips.map((id) => byId.get(id)!.ref).join(' '),
      hyp: s.clips.map((id) => byId.get(id)!.hyp).join(' '),
    })),
  ).wer;
}
