// The live session's utterance logic as a specification: scripted VAD evidence and scripted
// decodes, no model and no audio. Each test feeds inputs to `step` and reads the commands.
import { describe, expect, it } from 'vitest';
import type { HypothesisWord } from '../../src/engine/live-decoder.js';
import type { Segment } from '../../src/engine/transcribe.js';
import { COMMIT_POLICIES, DEFAULT_COMMIT_POLICY } from '../../src/stream/commit-policy.js';
import type { SessionEvent } from '../../src/stream/session-contract.js';
import {
  flushDue,
  initialState,
  lagSamples,
  SessionPhase,
  step,
  type SessionCommand,
  type SessionConfig,
  type SessionInput,
  type SessionState,
  type SpeechEvidence,
} from '../../src/stream/session-step.js';

const SR = 16000;
const sec = (s: number) => Math.round(s * SR);

/** The VAD's view: speech spans in seconds (an open one has no end). */
function speechIn(spans: Array<[number, number?]>, isSpeech = false): SpeechEvidence {
  return {
    speechSecondsIn(fromS, toS) {
      return spans.reduce((sum, [a, b = Infinity]) => sum + Math.max(0, Math.min(toS, b) - Math.max(fromS, a)), 0);
    },
    inUtterance: spans.some(([, b]) => b === undefined),
    isSpeech,
  };
}

const config = (over: Partial<SessionConfig> = {}): SessionConfig => ({
  policy: DEFAULT_COMMIT_POLICY,
  interimResults: true,
  vadEvents: true,
  utteranceEndMs: 1000,
  wordTokens: (word) => [...word].map((c) => c.charCodeAt(0)),
  ...over,
});

/** Hypothesis words one every 0.5 s from `startS` (seconds from the decode's origin). */
function said(text: string, startS: number): HypothesisWord[] {
  return text.split(' ').map((word, i) => ({
    word,
    start: startS + i * 0.5,
    end: startS + i * 0.5 + 0.4,
    confidence: 0.9,
    tokens: [i + 1],
  }));
}

function segment(text: string, start: number, end: number, noSpeechProb = 0.05): Segment {
  return { start, end, text, tokens: [], avgLogprob: -0.2, noSpeechProb, compressionRatio: 1, temperature: 0 };
}

/** Runs inputs in order from `state`; returns the last state and every command. */
function run(state: SessionState, inputs: SessionInput[], speech: SpeechEvidence, cfg = config()) {
  const commands: SessionCommand[] = [];
  for (const input of inputs) {
    const next = step(state, input, speech, cfg);
    state = next.state;
    commands.push(...next.commands);
  }
  return { state, commands };
}

const audio = (seconds: number, vad: SessionInput & { type: 'audio' } extends { vad: infer V } ? V : never = []): SessionInput => ({
  type: 'audio',
  samples: sec(seconds),
  vad,
});
const speechStart = (atS: number) => ({ type: 'speech_start' as const, atS, detectedAtS: atS + 0.1 });
const speechEnd = (atS: number, detectedAtS: number) => ({ type: 'speech_end' as const, atS, detectedAtS });

function emitted(commands: SessionCommand[]): SessionEvent[] {
  return commands.flatMap((c) => (c.type === 'emit' ? [c.event] : []));
}
function finals(commands: SessionCommand[]) {
  return emitted(commands).filter((e): e is Extract<SessionEvent, { type: 'results' }> => e.type === 'results' && e.isFinal);
}
function decodes(commands: SessionCommand[]) {
  return commands.filter((c) => ['decode-tail', 'decode-own', 'second-look', 'check-speech'].includes(c.type));
}

/** A session 2 s into an utterance that began at 0.5 s. */
function speaking(): SessionState {
  return run(initialState(), [audio(2, [speechStart(0.5)])], speechIn([[0.5]])).state;
}

describe('which flush is due', () => {
  const base = speaking();
  it.each([
    ['nothing while speaking', base, null],
    ['Finalize first, even with an endpoint waiting', { ...base, requestedFlush: 'finalize', endpoints: [sec(1)] }, 'finalize'],
    ['a close, even with an endpoint waiting', { ...base, requestedFlush: 'close', endpoints: [sec(1)] }, 'close'],
    ['an endpoint', { ...base, endpoints: [sec(1)] }, 'endpoint'],
    ['the cap past 25 s of kept audio', { ...base, received: sec(25.1) }, 'cap'],
    ['no cap while listening', { ...base, phase: SessionPhase.Listening, received: sec(30) }, null],
    ['none while a flush runs', { ...base, phase: SessionPhase.Flushing, endpoints: [sec(1)] }, null],
    ['none once closed', { ...base, phase: SessionPhase.Closed, requestedFlush: 'finalize' }, null],
  ] as const)('%s', (_, state, kind) => {
    expect(flushDue(state as SessionState)).toBe(kind);
  });
});

describe('listening', () => {
  it('keeps a stream\'s opening 3 s until its first speech, then only a 0.5 s pre-roll', () => {
    const quiet = speechIn([]);
    const opening = run(initialState(), [audio(2.5)], quiet);
    expect(opening.commands).toEqual([]);
    const later = run(opening.state, [audio(1)], quiet);
    expect(later.commands).toEqual([{ type: 'trim', before: sec(3) }]);
    expect(later.state.bufferStart).toBe(sec(3));
  });

  it('starts an utterance at speech, telling vad_events clients', () => {
    const { state, commands } = run(initialState(), [audio(1, [speechStart(0.4)])], speechIn([[0.4]]));
    expect(state.phase).toBe(SessionPhase.Speaking);
    expect(emitted(commands)).toEqual([{ type: 'speech_started', timestamp: 0.4 }]);
  });
});

describe('hops of an open utterance', () => {
  it.each([
    ['due once a hop of new audio arrived', 0, false, true],
    ['not due within a hop of the last one', sec(1.8), false, false],
    ['never two at once', 0, true, false],
  ])('%s', (_, lastHopAt, hopInFlight, due) => {
    const { commands } = run({ ...speaking(), lastHopAt }, [{ type: 'work', hopInFlight }], speechIn([[0.5]]));
    expect(decodes(commands).length).toBe(due ? 1 : 0);
  });

  it('commits what two hypotheses agree on, except the last word, and shows the rest as interim', () => {
    const speech = speechIn([[0.5]]);
    let s = speaking();
    const first = step(s, { type: 'hypothesis', generation: 0, origin: 0, end: sec(2), words: said('ask not what', 0.5) }, speech, config());
    expect(finals(first.commands)).toEqual([]);
    s = run(first.state, [audio(1)], speech).state;
    const second = step(s, { type: 'hypothesis', generation: 0, origin: 0, end: sec(3), words: said('ask not what your', 0.5) }, speech, config());
    const [final] = finals(second.commands);
    expect(final.transcript).toBe('ask not what');
    expect(second.state.committed.map((c) => c.tokens)).toEqual([[1], [2], [3]]);
    const interim = emitted(second.commands).find((e) => e.type === 'results' && !e.isFinal);
    expect(interim).toMatchObject({ transcript: 'your' });
    // The next hop is forced to start with the final words.
    const hop = run({ ...second.state, lastHopAt: 0 }, [{ type: 'work', hopInFlight: false }], speech);
    expect(decodes(hop.commands)[0]).toMatchObject({ type: 'decode-tail', purpose: 'live', prefixTokens: [1, 2, 3], prefixEnd: sec(1.9) });
  });

  it('ignores a hypothesis that a flush overtook', () => {
    const s = { ...speaking(), generation: 3 };
    const out = step(s, { type: 'hypothesis', generation: 2, origin: 0, end: sec(2), words: said('ask not', 0.5) }, speechIn([[0.5]]), config());
    expect(out).toEqual({ state: s, commands: [] });
  });

  it('commits nothing from a hypothesis that skipped heard speech', () => {
    const speech = speechIn([[0.5]]);
    const words = said('what your country', 1.8);
    const once = step(speaking(), { type: 'hypothesis', generation: 0, origin: 0, end: sec(3), words }, speech, config());
    const twice = step(once.state, { type: 'hypothesis', generation: 0, origin: 0, end: sec(3.5), words }, speech, config());
    expect(finals(twice.commands)).toEqual([]);
  });
});

describe('an utterance\'s end', () => {
  it('with final words: decodes the open tail once more, sends it as speech_final and lets the audio go', () => {
    const speech = speechIn([[0.5, 3]]);
    const noContext = config({ policy: COMMIT_POLICIES['no-context'] });
    let s: SessionState = {
      ...speaking(),
      received: sec(3.6),
      committed: [{ word: { word: 'ask', start: 0.5, end: 0.9, confidence: 1 }, tokens: [7] }],
    };
    s = run(s, [audio(0, [speechEnd(3, 3.5)])], speech).state;
    const flush = step(s, { type: 'work', hopInFlight: false }, speech, noContext);
    expect(flush.state.phase).toBe(SessionPhase.Flushing);
    expect(decodes(flush.commands)).toEqual([
      expect.objectContaining({ type: 'decode-tail', purpose: 'final', until: sec(3.5), prefixTokens: [7] }),
    ]);
    const done = step(flush.state, { type: 'tail-decoded', origin: 0, words: said('not what you', 1.5) }, speech, noContext);
    const [final] = finals(done.commands);
    expect(final).toMatchObject({ transcript: 'not what you', speechFinal: true, fromFinalize: false });
    expect(done.state.phase).toBe(SessionPhase.Listening);
    expect(done.state.finalText.trim()).toBe('ask not what you');
    expect(done.commands).toContainEqual({ type: 'trim', before: sec(3.5) });
    expect(done.commands.at(-1)).toEqual({ type: 'flush-done', kind: 'endpoint' });
  });

  it('with nothing final: decodes the utterance on its own audio', () => {
    const speech = speechIn([[0.5, 3]]);
    const s = run(speaking(), [audio(1.6, [speechEnd(3, 3.5)])], speech).state;
    const flush = step(s, { type: 'work', hopInFlight: false }, speech, config());
    expect(decodes(flush.commands)).toEqual([expect.objectContaining({ type: 'decode-own', from: 0, until: sec(3.5) })]);
    const done = step(flush.state, { type: 'own-decoded', from: 0, segments: [segment(' Ask not.', 0.5, 3)] }, speech, config());
    expect(finals(done.commands).map((f) => f.transcript)).toEqual(['Ask not.']);
  });

  it('decodes speech left after the last word again on its own, and keeps it only where no-speech says speech', () => {
    const speech = speechIn([[0.5, 6]]);
    const s = run(speaking(), [audio(4.6, [speechEnd(6, 6.5)])], speech).state;
    const flush = run(s, [{ type: 'work', hopInFlight: false }, { type: 'own-decoded', from: 0, segments: [segment(' He hoped,', 0.5, 2)] }], speech);
    expect(decodes(flush.commands).at(-1)).toMatchObject({ type: 'second-look', from: sec(2), until: sec(6.5) });
    expect((decodes(flush.commands).at(-1) as { previousText: string }).previousText.trim()).toBe('He hoped,');
    const heard = step(flush.state, { type: 'second-look-decoded', from: sec(2), segments: [segment(' there would be stew.', 0, 4)] }, speech, config());
    expect(finals(heard.commands).map((f) => f.transcript)).toEqual(['He hoped, there would be stew.']);
    // The stated non-speech decision: applause read as "Thank you." with no-speech 0.74.
    const noise = step(flush.state, { type: 'second-look-decoded', from: sec(2), segments: [segment(' Thank you.', 0, 4, 0.74)] }, speech, config());
    expect(finals(noise.commands).map((f) => f.transcript)).toEqual(['He hoped,']);
  });

  it('answers Finalize with a final even when nothing was said', () => {
    const { commands } = run(initialState(), [audio(1), { type: 'finalize', by: 'finalize' }, { type: 'work', hopInFlight: false }], speechIn([]));
    expect(commands[0]).toEqual({ type: 'flush-started', kind: 'finalize' });
    expect(finals(commands)).toEqual([expect.objectContaining({ transcript: '', fromFinalize: true, speechFinal: false })]);
    expect(commands.at(-1)).toEqual({ type: 'flush-done', kind: 'finalize' });
  });

  it('answers Finalize once: a close right after it decodes nothing again and sends nothing more', () => {
    // JFK's applause after "your country.": the Finalize judged it, with too little speech
    // left after the last word for a second look; the close must not judge it again.
    const speech = speechIn([[0.5, 3.2]]);
    const s = run(speaking(), [audio(2)], speech).state;
    const answered = run(s, [{ type: 'finalize', by: 'finalize' }, { type: 'work', hopInFlight: false }, { type: 'own-decoded', from: 0, segments: [segment(' Ask not.', 0.5, 3)] }], speech);
    expect(finals(answered.commands)).toEqual([expect.objectContaining({ transcript: 'Ask not.', fromFinalize: true })]);
    const closed = run(answered.state, [{ type: 'finalize', by: 'close' }, { type: 'work', hopInFlight: false }], speech);
    expect(decodes(closed.commands)).toEqual([]);
    expect(finals(closed.commands)).toEqual([]);
    expect(closed.commands.at(-1)).toEqual({ type: 'flush-done', kind: 'close' });
  });

  it('flushes at a close as at a Finalize, but nothing of it is from_finalize and an empty one sends nothing', () => {
    const speech = speechIn([[0.5, 3]]);
    const s = run(speaking(), [audio(2)], speech).state;
    const closed = run(s, [{ type: 'finalize', by: 'close' }, { type: 'work', hopInFlight: false }, { type: 'own-decoded', from: 0, segments: [segment(' Ask not.', 0.5, 3)] }], speech);
    expect(finals(closed.commands)).toEqual([expect.objectContaining({ transcript: 'Ask not.', fromFinalize: false })]);
    const quiet = run(initialState(), [audio(1), { type: 'finalize', by: 'close' }, { type: 'work', hopInFlight: false }], speechIn([]));
    expect(finals(quiet.commands)).toEqual([]);
  });

  it('a Finalize and a close both waiting are answered by one Finalize', () => {
    const s = run(initialState(), [audio(1), { type: 'finalize', by: 'finalize' }, { type: 'finalize', by: 'close' }], speechIn([])).state;
    expect(flushDue(s)).toBe('finalize');
  });

  it('cuts an utterance past the cap at its last complete segment and keeps decoding the rest', () => {
    const speech = speechIn([[0.5]]);
    const s = run(speaking(), [audio(24)], speech).state;
    const flush = run(s, [{ type: 'work', hopInFlight: false }], speech);
    expect(flush.commands[0]).toEqual({ type: 'flush-started', kind: 'cap' });
    const segments = [segment(' One sentence.', 0.5, 12), segment(' Another one,', 12, 24), segment(' cut off', 24, 26)];
    const done = step(flush.state, { type: 'own-decoded', from: 0, segments }, speech, config());
    expect(finals(done.commands).map((f) => f.transcript)).toEqual(['One sentence. Another one,']);
    expect(done.state.bufferStart).toBe(sec(24));
    expect(done.state.phase).toBe(SessionPhase.Speaking);
  });
});

describe('the context policy', () => {
  it('keeps an ended utterance as the next one\'s forced prefix until a long pause', () => {
    const speech = speechIn([[0.5, 3]]);
    const cfg = config({ policy: COMMIT_POLICIES.default });
    const s = run(speaking(), [audio(1.6, [speechEnd(3, 3.5)])], speech, cfg).state;
    const ended = run(s, [{ type: 'work', hopInFlight: false }, { type: 'own-decoded', from: 0, segments: [segment(' Ask not.', 0.5, 3)] }], speech, cfg);
    expect(ended.state.committed.map((c) => c.word.word)).toEqual(['Ask', 'not.']);
    expect(ended.state.bufferStart).toBe(0);
    const pause = run(ended.state, [audio(6)], speech, cfg);
    expect(pause.state.committed).toEqual([]);
    expect(pause.state.finalText.trim()).toBe('Ask not.');
  });
});

describe('utterance_end and lag', () => {
  it('sends utterance_end once the gap after the last word reaches utterance_end_ms', () => {
    const s: SessionState = { ...initialState(), received: sec(5), lastWordEnd: 4.2, utteranceEndSent: false };
    expect(emitted(run(s, [audio(0)], speechIn([])).commands)).toEqual([]);
    const { state, commands } = run(s, [audio(0.3)], speechIn([]));
    expect(emitted(commands)).toEqual([{ type: 'utterance_end', lastWordEnd: 4.2 }]);
    expect(state.utteranceEndSent).toBe(true);
  });

  it('counts audio a hop heard no words in as decoded: lag is what the device owes', () => {
    // After a kept context's full stop Whisper can write end-of-text hop after hop over speech;
    // that is late words, not a device behind, and shedding must not take it for one.
    const s = speaking();
    const nothing = run(s, [{ type: 'work', hopInFlight: false }, { type: 'hypothesis', generation: s.generation, origin: 0, end: sec(2), words: null }], speechIn([[0.5]]));
    expect(lagSamples(nothing.state)).toBe(0);
  });

  it('counts lag only while an utterance is open or being flushed', () => {
    const s: SessionState = { ...initialState(), received: sec(4), emittedUntil: sec(1) };
    expect(lagSamples(s)).toBe(0);
    expect(lagSamples({ ...s, phase: SessionPhase.Speaking })).toBe(sec(3));
    expect(lagSamples({ ...s, endpoints: [sec(2)] })).toBe(sec(3));
  });
});

describe('an utterance right after a kept context, by default', () => {
  it('is decoded with the context forced and commits what two hops agree on, with no speech check', () => {
    const first = speechIn([[0.5, 3]]);
    let s = run(speaking(), [audio(1.6, [speechEnd(3, 3.5)])], first).state;
    s = run(s, [{ type: 'work', hopInFlight: false }, { type: 'own-decoded', from: 0, segments: [segment(' Ask not.', 0.5, 3)] }], first).state;
    const speech = speechIn([[0.5, 3], [4]]);
    s = run(s, [audio(1.5, [speechStart(4)])], speech).state;
    const hop = run(s, [{ type: 'work', hopInFlight: false }], speech);
    expect(decodes(hop.commands)).toEqual([expect.objectContaining({ type: 'decode-tail', prefixTokens: [...'Ask', ...'not.'].map((c) => c.charCodeAt(0)) })]);
    const words = (end: number): SessionInput => ({ type: 'hypothesis', generation: s.generation, origin: 0, end: sec(end), words: said('what your country', 4) });
    const { commands } = run(hop.state, [words(5.1), words(5.5)], speech);
    expect(finals(commands).map((f) => f.transcript)).toEqual(['what your']);
  });
});

describe('an utterance right after a kept context, with the speech-check policy', () => {
  const cfg = config({ policy: COMMIT_POLICIES['speech-check'] });
  /** "Ask not." final and kept as context; a new utterance from 4 s, heard up to 5 s. */
  function afterContext(): { state: SessionState; speech: SpeechEvidence } {
    const first = speechIn([[0.5, 3]]);
    let s = run(speaking(), [audio(1.6, [speechEnd(3, 3.5)])], first, cfg).state;
    s = run(s, [{ type: 'work', hopInFlight: false }, { type: 'own-decoded', from: 0, segments: [segment(' Ask not.', 0.5, 3)] }], first, cfg).state;
    const speech = speechIn([[0.5, 3], [4]]);
    s = run(s, [audio(1.5, [speechStart(4)])], speech, cfg).state;
    return { state: s, speech };
  }
  const hypothesis = (s: SessionState, words: string, endS: number): SessionInput => ({
    type: 'hypothesis',
    generation: s.generation,
    origin: 0,
    end: sec(endS),
    words: said(words, 4),
  });

  it('decodes its own audio once it holds half a second of speech, before any hop', () => {
    const { state, speech } = afterContext();
    const { state: checking, commands } = run(state, [{ type: 'work', hopInFlight: false }], speech, cfg);
    expect(decodes(commands)).toEqual([expect.objectContaining({ type: 'check-speech', from: sec(3), until: sec(5.1) })]);
    expect(checking.speechCheck.verdict).toBe('checking');
    expect(checking.speechCheck.heardS).toBeCloseTo(1.1);
  });

  it('commits nothing until the check says speech, then commits what the hops agreed on', () => {
    const { state, speech } = afterContext();
    let s = run(state, [{ type: 'work', hopInFlight: false }], speech, cfg).state;
    const held = run(s, [hypothesis(s, 'see you next week.', 5.1), hypothesis(s, 'see you next week.', 5.5)], speech, cfg);
    expect(finals(held.commands)).toEqual([]);
    s = step(held.state, { type: 'speech-checked', generation: s.generation, judgement: { noSpeechProb: 0.1, text: ' See you' } }, speech, cfg).state;
    expect(s.speechCheck.verdict).toBe('speech');
    const committed = step(s, hypothesis(s, 'see you next week.', 6), speech, cfg);
    expect(finals(committed.commands).map((f) => f.transcript)).toEqual(['see you next']);
  });

  it('shows nothing, not even interim words, once the check judged the utterance noise', () => {
    const { state, speech } = afterContext();
    let s = run(state, [{ type: 'work', hopInFlight: false }], speech, cfg).state;
    s = step(s, { type: 'speech-checked', generation: s.generation, judgement: { noSpeechProb: 0.74, text: ' Thank you.' } }, speech, cfg).state;
    expect(s.speechCheck.verdict).toBe('noise');
    const { commands } = run(s, [hypothesis(s, 'see you next week.', 5.1), hypothesis(s, 'see you next week.', 5.5)], speech, cfg);
    expect(emitted(commands)).toEqual([]);
  });

  it('checks again once the utterance\'s speech has doubled, not before', () => {
    const { state, speech } = afterContext();
    let s = run(state, [{ type: 'work', hopInFlight: false }], speech, cfg).state;
    s = step(s, { type: 'speech-checked', generation: s.generation, judgement: { noSpeechProb: 1, text: '' } }, speech, cfg).state;
    const checks = (commands: SessionCommand[]) => commands.filter((c) => c.type === 'check-speech');
    const soon = run(s, [audio(1), { type: 'work', hopInFlight: false }], speech, cfg);
    expect(checks(soon.commands)).toEqual([]);
    const later = run(soon.state, [audio(0.2), { type: 'work', hopInFlight: false }], speech, cfg);
    expect(checks(later.commands)).toHaveLength(1);
    expect(later.state.speechCheck.heardS).toBeCloseTo(2.3);
  });

  it('ignores a check that a flush overtook, and checks the next utterance afresh', () => {
    const { state, speech } = afterContext();
    const checking = run(state, [{ type: 'work', hopInFlight: false }], speech, cfg).state;
    const flushed: SessionState = { ...checking, generation: checking.generation + 1, speechCheck: { verdict: 'unchecked', heardS: 0 } };
    const late = step(flushed, { type: 'speech-checked', generation: checking.generation, judgement: { noSpeechProb: 0.05, text: ' Yes.' } }, speech, cfg);
    expect(late.state.speechCheck.verdict).toBe('unchecked');
  });
});

describe('what a weaker decode keeps', () => {
  it.each([
    [' He hoped there would be stew.', 0.05, true],
    [' Three.', 0.24, true],
    [' Thank you.', 0.46, false],
    [' Free. Free. Free.', 0.3, false],
    [" I'm free. I'm free.", 0.3, false],
    [' Free. Free. Party. Free.', 0.27, false],
    [' No, no.', 0.1, true],
  ])('%s (no-speech %f): kept %s', async (text, noSpeech, kept) => {
    const { heardAsSpeech } = await import('../../src/stream/session-step.js');
    expect(heardAsSpeech([segment(text, 0, 1, noSpeech)]).length).toBe(kept ? 1 : 0);
  });
});

describe('what a speech check calls speech', () => {
  it.each([
    [' Margaret said Mr. Hale,', 0.05, true],
    [' Thank you.', 0.55, false],
    [' Great. Great. Great.', 0.2, false],
    ['', 0.1, false],
  ])('%j (no-speech %f): speech %s', async (text, noSpeechProb, speech) => {
    const { judgedSpeech } = await import('../../src/stream/session-step.js');
    expect(judgedSpeech({ text, noSpeechProb })).toBe(speech);
  });
});
