// Keyterm prompting (Deepgram's `keyterm`), measured: do the terms a client names come back
// spelled right, does a term that was never said stay out, and does the rest of the transcript
// stay as it was?
//   npx tsc -p tsconfig.json && node dist/bench/keyterms.js [--sets a,b] [--distractors 3] [--finals early,utterance]
//
// Per clip of the sets, the targets are the reference words of five letters or more that the
// offline transcript without keyterms misses: the names and rare words a client that knows
// its call would send, so the figure is what keyterms can do at best. Each clip also gets
// distractors, targets of other clips that its reference lacks, to count terms written that
// were never said. Offline (file) and live (one clip per session, virtual clock, each `finals`
// mode as a stream asking for it gets) run with and without the terms, in one process; the
// rest of the WER is over the words that are neither.
import { parseArgs } from 'node:util';
import { loadAudioFile } from '../src/audio/load.js';
import { cpuClassLine } from '../src/engine/cpu-class.js';
import { transcribe } from '../src/engine/transcribe.js';
import { WhisperModel } from '../src/engine/whisper.js';
import { chainClips, playStreams, type LiveClip, type LiveStream } from '../src/eval/live.js';
import { clipsBySet } from '../src/eval/manifest.js';
import { alignWords, werOf } from '../src/eval/wer.js';
import { defaultEndpointingMs } from '../src/gateway/protocol.js';
import { commitPolicyFor, FINALS_MODES, finalsModeNamed, type FinalsMode } from '../src/stream/commit-policy.js';
import { words } from '../src/text/normalize.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'tiny.en' },
    sets: { type: 'string', default: 'librispeech-test-clean,librispeech-test-other,librispeech-dev-clean,ljspeech,longform' },
    distractors: { type: 'string', default: '3' },
    finals: { type: 'string', default: 'early,utterance' },
  },
});

const MIN_TARGET_LETTERS = 5;

interface KeytermClip extends LiveClip {
  targets: string[];
  distractors: string[];
}

interface Tally {
  targets: number;
  recalled: number;
  distractors: number;
  inserted: number;
  /** errors and reference words of everything but the targets and distractors */
  restErrors: number;
  restWords: number;
}

function count(list: readonly string[], word: string): number {
  return list.filter((w) => w === word).length;
}

function tally(clips: readonly KeytermClip[], hyps: readonly string[]): Tally {
  const t: Tally = { targets: 0, recalled: 0, distractors: 0, inserted: 0, restErrors: 0, restWords: 0 };
  clips.forEach((clip, i) => {
    const ref = words(clip.text);
    const hyp = words(hyps[i]);
    for (const target of clip.targets) {
      t.targets += count(ref, target);
      t.recalled += Math.min(count(ref, target), count(hyp, target));
    }
    for (const distractor of clip.distractors) {
      t.distractors++;
      if (hyp.includes(distractor)) t.inserted++;
    }
    const named = new Set([...clip.targets, ...clip.distractors]);
    const rest = alignWords(
      ref.filter((w) => !named.has(w)),
      hyp.filter((w) => !named.has(w)),
    );
    t.restErrors += rest.substitutions + rest.deletions + rest.insertions;
    t.restWords += rest.refWords;
  });
  return t;
}

function row(name: string, t: Tally): string {
  const pct = (a: number, b: number) => (b === 0 ? 'n/a' : `${((100 * a) / b).toFixed(1)} %`);
  const rest = werOf({ substitutions: t.restErrors, deletions: 0, insertions: 0, hits: 0, refWords: t.restWords, hypWords: 0 });
  return `| ${name} | ${t.recalled} / ${t.targets} (${pct(t.recalled, t.targets)}) | ${t.inserted} / ${t.distractors} | ${((rest ?? 0) * 100).toFixed(2)} % |`;
}

const model = await WhisperModel.load(values.model!, { threads: 2, maxWindows: 4, maxSessions: 8, maxStreamingWindows: 2 });
try {
  const clips: KeytermClip[] = [];
  for (const clip of clipsBySet(values.sets!.split(','))) {
    const { samples } = await loadAudioFile(clip.path);
    const offline = (await transcribe(model, samples, { language: 'en' })).text.trim();
    const heard = new Set(words(offline));
    const targets = [...new Set(words(clip.text).filter((w) => w.length >= MIN_TARGET_LETTERS && !heard.has(w)))];
    clips.push({ id: clip.id, set: clip.set, text: clip.text, samples, offline, targets, distractors: [] });
  }
  // Distractors: the next clips' targets that this clip never says, in a fixed order.
  const wanted = Number(values.distractors);
  clips.forEach((clip, i) => {
    const said = new Set(words(clip.text));
    for (let k = 1; k < clips.length && clip.distractors.length < wanted; k++) {
      for (const term of clips[(i + k) % clips.length].targets) {
        if (!said.has(term) && !clip.distractors.includes(term) && clip.distractors.length < wanted) clip.distractors.push(term);
      }
    }
  });
  const withTerms = clips.filter((c) => c.targets.length > 0);
  const keyterms = (clip: KeytermClip) => [...clip.targets, ...clip.distractors];

  const offlineWith: string[] = [];
  for (const clip of withTerms) offlineWith.push((await transcribe(model, clip.samples, { language: 'en', keyterms: keyterms(clip) })).text.trim());
  const streams = (terms: boolean): LiveStream[] =>
    chainClips(withTerms, 1).map((stream, i) => ({ ...stream, keyterms: terms ? keyterms(withTerms[i]) : [] }));
  const finals = async (mode: FinalsMode, terms: boolean) =>
    (
      await playStreams(model, streams(terms), { clock: 'virtual', concurrency: 1, commit: commitPolicyFor(mode), endpointingMs: defaultEndpointingMs(mode) })
    ).map((r) => r.finals.join(' '));
  const liveRows: string[] = [];
  for (const name of values.finals!.split(',')) {
    const mode = finalsModeNamed(name);
    if (!mode) throw new Error(`--finals: expected a list of ${FINALS_MODES.join(', ')}, got ${name}`);
    liveRows.push(row(`live finals=${mode}, no keyterms`, tally(withTerms, await finals(mode, false))));
    liveRows.push(row(`live finals=${mode}, keyterms`, tally(withTerms, await finals(mode, true))));
  }

  const targetCount = withTerms.reduce((n, c) => n + c.targets.length, 0);
  process.stdout.write(
    `keyterms, ${values.model} ${model.info.precision}, 2 threads, ${await cpuClassLine(model.info.isa)}; ` +
      `sets ${values.sets}: ${clips.length} clips, ${withTerms.length} with targets (${targetCount} distinct target words, ` +
      `${wanted} distractors each); live: one clip per session, virtual clock\n\n` +
      '| transcript | targets recalled | distractors written | WER of the rest |\n|---|---|---|---|\n' +
      `${row('offline, no keyterms', tally(withTerms, withTerms.map((c) => c.offline)))}\n` +
      `${row('offline, keyterms', tally(withTerms, offlineWith))}\n` +
      liveRows.map((r) => `${r}\n`).join(''),
  );
} finally {
  model.close();
}
