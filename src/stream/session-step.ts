// One live session's utterance logic as a pure state machine: step(state, input, speech,
// config) -> { state, commands }. The session (src/stream/session.ts) is the thin async driver
// around it: it keeps the audio and the VAD, executes the commands (emit a result, let audio
// go, run a decode) and feeds each decode's result back as the next input. Nothing here
// touches audio, the model or a clock, so every rule is table-tested with scripted
// hypotheses (test/stream/session-step.test.ts).
//
//   Listening ──speech──▶ Speaking ──endpoint / Finalize / cap──▶ Flushing ──▶ Speaking or Listening
//      ▲                     │ hop every hopS: LocalAgreement commits   │ decodes in turn:
//      └──── pause ──────────┘ (mid-utterance finals) + interims        │ the open tail (or the utterance's
//                                                                        │ own audio), then a second look
//   any ──close──▶ Closed                                                ▼ at speech left after the last word
//
// Times in the state are stream samples (16 kHz) from the first sample the client sent.
//
// Final words are never revised: later decodes are forced to start with them and continue
// from there, while still hearing their audio, so early finals cost no cutting of audio at
// uncertain word boundaries. With the policy's `keepContext` an ended utterance stays in the
// window in the same way, as the next one's context, until a long pause or the window's
// length budget moves its words into the prompt; otherwise its words become prompt text at
// once. An utterance that ends before any of its words became final is decoded on its own
// audio by the offline algorithm, as a file would be.
import type { HypothesisWord, SpeechJudgement } from '../engine/live-decoder.js';
import type { Segment } from '../engine/transcribe.js';
import { normalizeBasic } from '../text/normalize.js';
import type { CommitPolicy } from './commit-policy.js';
import type { ResultWord, SessionEvent } from './session-contract.js';
import { agree, NO_AGREEMENT, type AgreementState } from './stabilizer.js';
import { wordsFromSegment } from './timestamps.js';
import type { VadEvent } from './vad.js';

export const SAMPLE_RATE = 16000;

/** Audio kept before a detected speech start: detection lags onset by the minimum speech time. */
const PREROLL_S = 0.5;
/**
 * With `keepContext`, an ended utterance stays in the decoding window (its words forced, its
 * audio heard) as the next utterance's context until a pause this long; then its words become
 * prompt text. Dropping the window at every endpoint made live accuracy depend on the client's
 * `endpointing` (bench/RESULTS.md).
 */
const CONTEXT_PAUSE_S = 5;
/** A stream's opening audio kept until its first speech is found (see dropSilenceBefore). */
const STREAM_OPENING_S = 3;
/** Speech before a hypothesis' first word beyond this means the decoder skipped words. */
const MAX_SKIPPED_SPEECH_S = 0.5;
/** Alignment may start a word a little after its onset. */
const WORD_ONSET_SLACK_S = 0.2;
/** Speech heard after an utterance's last word beyond this is decoded again on its own. */
const MIN_UNCOVERED_SPEECH_S = 0.4;
/** Alignment may end a word a little before its audio does. */
const WORD_END_SLACK_S = 0.2;
/**
 * An utterance heard right after a kept context is checked once it holds this much speech: its
 * audio is decoded on its own and judged as a second look is (heardAsSpeech) before any of its
 * words may become final. A check that says noise is repeated each time the utterance's speech
 * has doubled: half a second of a first word is often judged noise, and the checks of a long
 * stretch of applause stay few.
 */
const SPEECH_CHECK_AFTER_S = 0.6;
/** An utterance longer than this is finalised at its last complete segment. */
export const MAX_UTTERANCE_S = 25;

export enum SessionPhase {
  /** no open utterance: audio older than the pre-roll is let go */
  Listening = 'listening',
  /** an utterance is open: its tail is decoded every hop */
  Speaking = 'speaking',
  /** an utterance's end is being decoded; the flush's progress is in `flush` */
  Flushing = 'flushing',
  /** CloseStream was served: nothing more is decoded */
  Closed = 'closed',
}

/**
 * Whether the open utterance, heard right after a kept context, is speech. With the context in
 * the window the decoder continues the talker's text over whatever follows, so applause after
 * a last word read as "See you next week." and two hops agreed on it; the check decodes the
 * utterance's own audio, where the no-speech judgement sees only it.
 */
export interface SpeechCheck {
  verdict: 'unchecked' | 'checking' | 'speech' | 'noise';
  /** seconds of the utterance's speech that the latest check heard */
  heardS: number;
}

const UNCHECKED: SpeechCheck = { verdict: 'unchecked', heardS: 0 };

/**
 * What a flush answers: an endpoint, a client's Finalize (its result is marked from_finalize,
 * and sent even when empty, since the client waits for it), the stream's close (CloseStream,
 * a disconnect, shutdown), or the window's cap.
 */
export type FlushKind = 'endpoint' | 'finalize' | 'close' | 'cap';

/** The flushes someone waits for: they cover everything received. */
export type RequestedFlush = Extract<FlushKind, 'finalize' | 'close'>;

export function isRequestedFlush(kind: FlushKind): kind is RequestedFlush {
  return kind === 'finalize' || kind === 'close';
}

export interface CommittedWord {
  word: ResultWord;
  /** the word's tokens, which later decodes are forced to start with */
  tokens: readonly number[];
}

export interface FlushProgress {
  kind: FlushKind;
  /** where the flushed audio ends: the endpoint, or all audio received */
  end: number;
  /** where the finals' audio ends: `end`, or a cap's last complete segment */
  cutAt: number;
  /** where the finals' audio starts */
  spanStart: number;
  /** the flush's words decoded so far */
  words: readonly ResultWord[];
}

export interface SessionState {
  phase: SessionPhase;
  /** samples received */
  received: number;
  /** the oldest sample still kept (audio before it was let go) */
  bufferStart: number;
  /** the VAD has found speech in this stream */
  heardSpeech: boolean;
  /** where endpoints were detected and not yet flushed, oldest first */
  endpoints: readonly number[];
  /** a Finalize or a close waits for the next flush (a Finalize, when both do: it is answered) */
  requestedFlush: RequestedFlush | null;
  /**
   * audio up to here has been through a flush: its words were emitted or it was judged
   * non-speech, so a later flush decides only what came after
   */
  flushedUntil: number;
  /** the audio's end when the latest hop started */
  lastHopAt: number;
  /** the open utterance's final words (and, with keepContext, the context's) */
  committed: readonly CommittedWord[];
  /** how many of `committed` are ended utterances' words, kept as context */
  contextWords: number;
  /** where the next word is believed to start, from the latest hypothesis */
  openTailStart: number | null;
  /** audio whose results have been emitted (DESIGN.md lag) */
  emittedUntil: number;
  /** words that left the window: the decoder's prompt */
  finalText: string;
  /** seconds: the end of the latest word sent, final or interim */
  lastWordEnd: number | null;
  utteranceEndSent: boolean;
  /** bumped by every flush, so that a hop decoded before it is recognised as stale */
  generation: number;
  /** what the open tail's latest hypothesis left undecided */
  agreement: AgreementState;
  /** the open utterance's speech check (only utterances that follow a kept context need one) */
  speechCheck: SpeechCheck;
  flush: FlushProgress | null;
}

export interface SessionConfig {
  policy: CommitPolicy;
  interimResults: boolean;
  vadEvents: boolean;
  /** gap after the last word that sends utterance_end; null: never */
  utteranceEndMs: number | null;
  /** a final word's tokens, to force it as a later decode's prefix (the model's tokenizer) */
  wordTokens: (word: string) => readonly number[];
}

/** What the VAD knows of the audio so far, asked at the moment of a step. */
export interface SpeechEvidence {
  /** seconds of detected speech within [fromS, toS) */
  speechSecondsIn(fromS: number, toS: number): number;
  /** speech started and its endpoint is not detected yet */
  readonly inUtterance: boolean;
  /** speech at the end of the audio analysed so far */
  readonly isSpeech: boolean;
}

export type SessionInput =
  /** samples appended to the stream, with the VAD events they completed */
  | { type: 'audio'; samples: number; vad: readonly VadEvent[] }
  /** Finalize, or the stream's close: someone waits for finals of everything received */
  | { type: 'finalize'; by: RequestedFlush }
  /** the worker is free: start the next flush or hop, if any is due */
  | { type: 'work'; hopInFlight: boolean }
  /** a hop's hypothesis of the open tail (words timed from `origin`), null: no speech */
  | { type: 'hypothesis'; generation: number; origin: number; end: number; words: readonly HypothesisWord[] | null }
  /** the flush's last hypothesis of the open tail */
  | { type: 'tail-decoded'; origin: number; words: readonly HypothesisWord[] | null }
  /** the speech check's judgement of the utterance's own audio */
  | { type: 'speech-checked'; generation: number; judgement: SpeechJudgement }
  /** the offline algorithm's segments of audio from `from` (the utterance's own, or a second look) */
  | { type: 'own-decoded' | 'second-look-decoded'; from: number; segments: readonly Segment[] }
  | { type: 'close' };

/** Decodes of stream audio [from, until); `previousText` prompts them. */
export type DecodeCommand =
  | {
      /** the open tail after the final words, in the stream's window (whose origin is `from`) */
      type: 'decode-tail';
      purpose: 'live' | 'final';
      generation: number;
      from: number;
      until: number;
      previousText: string;
      prefixTokens: readonly number[];
      /** where the forced prefix's audio ends */
      prefixEnd: number;
    }
  /** the offline algorithm on the audio alone: an utterance's own audio, or a second look */
  | { type: 'decode-own' | 'second-look'; from: number; until: number; previousText: string }
  /** the same for an open utterance's speech check; like a hop, it is stale after a flush */
  | { type: 'check-speech'; generation: number; from: number; until: number; previousText: string };

export type SessionCommand =
  | { type: 'emit'; event: SessionEvent }
  /** audio before this sample is no longer needed */
  | { type: 'trim'; before: number }
  | { type: 'flush-started'; kind: FlushKind }
  | { type: 'flush-done'; kind: FlushKind }
  | DecodeCommand;

export interface Step {
  state: SessionState;
  /** in order; a decode, if any, is the last (its result is the next input) */
  commands: SessionCommand[];
}

export function initialState(): SessionState {
  return {
    phase: SessionPhase.Listening,
    received: 0,
    bufferStart: 0,
    heardSpeech: false,
    endpoints: [],
    requestedFlush: null,
    flushedUntil: 0,
    lastHopAt: 0,
    committed: [],
    contextWords: 0,
    openTailStart: null,
    emittedUntil: 0,
    finalText: '',
    lastWordEnd: null,
    utteranceEndSent: true,
    generation: 0,
    agreement: NO_AGREEMENT,
    speechCheck: UNCHECKED,
    flush: null,
  };
}

export function step(state: SessionState, input: SessionInput, speech: SpeechEvidence, config: SessionConfig): Step {
  const out: SessionCommand[] = [];
  const next = transition(state, input, speech, config, out);
  return { state: next, commands: out };
}

function transition(
  s: SessionState,
  input: SessionInput,
  speech: SpeechEvidence,
  config: SessionConfig,
  out: SessionCommand[],
): SessionState {
  switch (input.type) {
    case 'audio':
      return onAudio(s, input.samples, input.vad, speech, config, out);
    case 'finalize':
      return { ...s, requestedFlush: s.requestedFlush === 'finalize' ? 'finalize' : input.by };
    case 'work':
      return onWork(s, input.hopInFlight, speech, config, out);
    case 'hypothesis':
      return onHypothesis(s, input, speech, config, out);
    case 'speech-checked':
      if (input.generation !== s.generation || s.speechCheck.verdict !== 'checking') return s;
      return { ...s, speechCheck: { ...s.speechCheck, verdict: judgedSpeech(input.judgement) ? 'speech' : 'noise' } };
    case 'tail-decoded':
      return onFlushDecoded(s, input, speech, config, out);
    case 'own-decoded':
      return onFlushDecoded(s, input, speech, config, out);
    case 'second-look-decoded':
      return onFlushDecoded(s, input, speech, config, out);
    case 'close':
      return { ...s, phase: SessionPhase.Closed };
  }
}

/** DESIGN.md lag: received audio whose results have not been emitted while work is pending. */
export function lagSamples(s: SessionState): number {
  const pending = s.phase === SessionPhase.Speaking || s.phase === SessionPhase.Flushing || s.endpoints.length > 0;
  return pending ? Math.max(0, s.received - s.emittedUntil) : 0;
}

/** The flush that is due now, if any: Finalize first (someone waits), then endpoints, then the cap. */
export function flushDue(s: SessionState): FlushKind | null {
  if (s.phase === SessionPhase.Flushing || s.phase === SessionPhase.Closed) return null;
  if (s.requestedFlush !== null) return s.requestedFlush;
  if (s.endpoints.length > 0) return 'endpoint';
  if (s.phase === SessionPhase.Speaking && s.received - s.bufferStart > MAX_UTTERANCE_S * SAMPLE_RATE) return 'cap';
  return null;
}

function onAudio(
  state: SessionState,
  samples: number,
  events: readonly VadEvent[],
  speech: SpeechEvidence,
  config: SessionConfig,
  out: SessionCommand[],
): SessionState {
  if (state.phase === SessionPhase.Closed) return state;
  let s: SessionState = { ...state, received: state.received + samples };
  for (const event of events) {
    if (event.type === 'speech_start') {
      const phase = s.phase === SessionPhase.Listening ? SessionPhase.Speaking : s.phase;
      s = { ...s, phase, heardSpeech: true, utteranceEndSent: true };
      if (config.vadEvents) out.push({ type: 'emit', event: { type: 'speech_started', timestamp: round(event.atS) } });
    } else {
      // Cut where the endpoint was known, not where this chunk ends: the next utterance may
      // already have started in the rest of the chunk, or by the time the flush runs.
      s = { ...s, endpoints: [...s.endpoints, Math.min(s.received, Math.round(event.detectedAtS * SAMPLE_RATE))] };
    }
  }
  if (s.phase === SessionPhase.Listening && s.endpoints.length === 0) s = dropSilenceBefore(s, s.received, out);
  return checkUtteranceEnd(s, speech, config, out);
}

function onWork(
  state: SessionState,
  hopInFlight: boolean,
  speech: SpeechEvidence,
  config: SessionConfig,
  out: SessionCommand[],
): SessionState {
  let s = state;
  for (let kind = flushDue(s); kind !== null; kind = flushDue(s)) {
    s = startFlush(s, kind, speech, config, out);
    // A flush waiting on a decode: its result is the next input.
    if (s.phase === SessionPhase.Flushing) return s;
  }
  // One hop (or speech check) at a time per session, stale ones included, so a stream never
  // holds more engine slots than admission accounted for.
  if (s.phase !== SessionPhase.Speaking || hopInFlight) return s;
  const heardS = speechCheckDue(s, speech, config);
  if (heardS !== null) {
    const from = committedEnd(s);
    out.push({ type: 'check-speech', generation: s.generation, from, until: s.received, previousText: appendText(s.finalText, committedWords(s)) });
    return { ...s, speechCheck: { verdict: 'checking', heardS } };
  }
  if (s.received - s.lastHopAt < config.policy.hopS * SAMPLE_RATE) return s;
  s = slideWindow(s, config, out);
  out.push(tailDecode(s, 'live', s.received));
  return { ...s, lastHopAt: s.received };
}

function onHypothesis(
  s: SessionState,
  input: Extract<SessionInput, { type: 'hypothesis' }>,
  speech: SpeechEvidence,
  config: SessionConfig,
  out: SessionCommand[],
): SessionState {
  // A flush that started meanwhile finalised this audio: the hypothesis is stale.
  if (s.phase === SessionPhase.Closed || input.generation !== s.generation) return s;
  // The device has decoded this far even when it heard nothing to add (silence, or end-of-text
  // after the forced words): lag is what the device owes, and overload sheds by it.
  s = { ...s, emittedUntil: Math.max(s.emittedUntil, input.end) };
  if (!input.words?.length) return s;
  const words = input.words.map((w) => toStreamWord(w, input.origin));
  // Whisper sometimes drops the first words after a pause; once the words after them were
  // final, nothing could bring them back. A hypothesis whose first word starts after speech
  // the VAD heard since the last final word commits nothing: a later one, or the utterance's
  // last decode, covers that speech.
  const skipped = speech.speechSecondsIn(committedEnd(s) / SAMPLE_RATE, words[0].start - WORD_ONSET_SLACK_S);
  const unchecked = config.policy.checkSpeech && followsContext(s) && s.speechCheck.verdict !== 'speech';
  const origin = input.origin / SAMPLE_RATE;
  const tail = words.map((w, i) => {
    const peak = input.words![i].peak;
    return { word: w.word, end: w.end, peak: peak === undefined ? undefined : origin + peak };
  });
  const { commit, stability, state: agreement } = agree(
    s.agreement,
    tail,
    input.end / SAMPLE_RATE,
    skipped <= MAX_SKIPPED_SPEECH_S && !unchecked,
    config.policy,
  );
  s = { ...s, agreement };
  if (commit > 0) {
    const spanStart = Math.min(committedEnd(s), Math.round(words[0].start * SAMPLE_RATE));
    const finals = words.slice(0, commit);
    s = {
      ...s,
      committed: [...s.committed, ...finals.map((word, i) => ({ word, tokens: input.words![i].tokens }))],
      lastWordEnd: finals[finals.length - 1].end,
    };
    out.push(results(s, finals, { isFinal: true, speechFinal: false, fromFinalize: false, start: spanStart, end: committedEnd(s) }));
  }
  const open = words.slice(commit).map((w, i) => ({ ...w, stability: stability[commit + i] }));
  s = { ...s, openTailStart: open.length > 0 ? Math.round(open[0].start * SAMPLE_RATE) : null };
  // What the check judged noise is not shown as words, even grey ones.
  const noise = unchecked && s.speechCheck.verdict === 'noise';
  if (open.length === 0 || !config.interimResults || noise) return s;
  s = { ...s, lastWordEnd: open[open.length - 1].end };
  const openStart = Math.min(committedEnd(s), Math.round(open[0].start * SAMPLE_RATE));
  out.push(results(s, open, { isFinal: false, speechFinal: false, fromFinalize: false, start: openStart, end: input.end }));
  return s;
}

function startFlush(
  state: SessionState,
  kind: FlushKind,
  speech: SpeechEvidence,
  config: SessionConfig,
  out: SessionCommand[],
): SessionState {
  out.push({ type: 'flush-started', kind });
  let s: SessionState = {
    ...state,
    phase: SessionPhase.Flushing,
    generation: state.generation + 1,
    requestedFlush: isRequestedFlush(kind) ? null : state.requestedFlush,
  };
  s = slideWindow(s, config, out);
  const until = kind === 'endpoint' ? s.endpoints[0] : Infinity;
  const end = Math.max(s.bufferStart, Math.min(s.received, until));
  const spanStart = committedEnd(s);
  s = { ...s, flush: { kind, end, cutAt: end, spanStart, words: [] } };
  // Audio an earlier flush decided is not decided again: a close right after a Finalize would
  // otherwise give the noise after the last word a second chance to come back as words.
  const heard = speech.speechSecondsIn(Math.max(spanStart, s.flushedUntil) / SAMPLE_RATE, end / SAMPLE_RATE) > 0;
  if (s.committed.length > s.contextWords) {
    // Final words hold the window's start: the rest must fit one window after them.
    if (heard && end > spanStart) {
      out.push(tailDecode(s, 'final', end));
      return s;
    }
  } else if (heard && end > s.bufferStart) {
    // Nothing of this utterance is final yet: it is decoded on its own audio by the offline
    // algorithm, whose no-speech judgement sees only it; the context's words are its prompt.
    const from = Math.max(s.bufferStart, Math.min(end, spanStart));
    out.push({ type: 'decode-own', from, until: end, previousText: appendText(s.finalText, committedWords(s)) });
    return s;
  }
  return secondLookOrFinish(s, speech, config, out);
}

function onFlushDecoded(
  state: SessionState,
  input: Extract<SessionInput, { type: 'tail-decoded' | 'own-decoded' | 'second-look-decoded' }>,
  speech: SpeechEvidence,
  config: SessionConfig,
  out: SessionCommand[],
): SessionState {
  const flush = state.flush;
  if (state.phase !== SessionPhase.Flushing || !flush) throw new Error(`${input.type} outside a flush`);
  if (input.type === 'second-look-decoded') {
    // A second look at audio that the utterance's decode passed over is weaker evidence than
    // a first (noise after a last word otherwise comes back as "Thank you.").
    const more = withinAudio(heardAsSpeech(input.segments).flatMap((seg) => wordsFromSegment(seg, input.from / SAMPLE_RATE)), flush.cutAt);
    return finishFlush({ ...state, flush: { ...flush, words: [...flush.words, ...more] } }, speech, config, out);
  }
  let next: FlushProgress;
  if (input.type === 'tail-decoded') {
    const words = (input.words ?? []).map((w) => toStreamWord(w, input.origin));
    const spanStart = words.length > 0 ? Math.min(flush.spanStart, Math.round(words[0].start * SAMPLE_RATE)) : flush.spanStart;
    next = { ...flush, words, spanStart };
  } else {
    let segments = input.segments;
    // Right after speech, what follows is as often applause or a room as a new sentence: a
    // segment stays only where no-speech probability alone says speech, as in the second look.
    if (state.committed.length > 0) segments = heardAsSpeech(segments);
    let cutAt = flush.cutAt;
    if (flush.kind === 'cap' && segments.length > 1) {
      // Keep the last segment's audio: the window may have cut it off mid-sentence.
      segments = segments.slice(0, -1);
      cutAt = input.from + Math.round(segments[segments.length - 1].end * SAMPLE_RATE);
    }
    const words = withinAudio(segments.flatMap((seg) => wordsFromSegment(seg, input.from / SAMPLE_RATE)), cutAt);
    next = { ...flush, words, cutAt };
  }
  return secondLookOrFinish({ ...state, flush: next }, speech, config, out);
}

/**
 * No speech is dropped at an utterance's end: when the utterance's words (final ones and those
 * of its last decode) stop short of speech that the VAD heard before the flush's cut (the
 * decoder ended early, after a sentence's full stop; a repeated phrase was taken for an echo
 * of the forced words), the audio after the last word is decoded again on its own, by the
 * offline algorithm, with the utterance so far as prompt. Whatever that decode judges to be no
 * speech, or whose no-speech probability alone leans to silence, is the stated non-speech
 * decision for that audio.
 */
function secondLookOrFinish(s: SessionState, speech: SpeechEvidence, config: SessionConfig, out: SessionCommand[]): SessionState {
  const flush = s.flush!;
  const said = [...committedWords(s), ...flush.words.map((w) => w.word)];
  const last = flush.words.at(-1) ?? s.committed.at(-1)?.word;
  const coveredUntil = last ? Math.round(last.end * SAMPLE_RATE) : s.bufferStart;
  const uncovered = speech.speechSecondsIn(Math.max(coveredUntil / SAMPLE_RATE + WORD_END_SLACK_S, s.flushedUntil / SAMPLE_RATE), flush.cutAt / SAMPLE_RATE);
  if (uncovered < MIN_UNCOVERED_SPEECH_S) return finishFlush(s, speech, config, out);
  // One look, over all of it: a second would only restate what the first timed loosely.
  const from = Math.max(s.bufferStart, coveredUntil);
  out.push({ type: 'second-look', from, until: flush.cutAt, previousText: appendText(s.finalText, said) });
  return s;
}

function finishFlush(state: SessionState, speech: SpeechEvidence, config: SessionConfig, out: SessionCommand[]): SessionState {
  const { kind, end, cutAt, spanStart, words } = state.flush!;
  let s = state;
  if (words.length > 0 || kind === 'finalize') {
    out.push(results(s, words, { isFinal: true, speechFinal: kind === 'endpoint', fromFinalize: kind === 'finalize', start: spanStart, end: cutAt }));
  }
  const lastWord = words.at(-1) ?? s.committed.at(-1)?.word;
  if (lastWord) s = { ...s, lastWordEnd: lastWord.end, utteranceEndSent: false };
  if (kind === 'cap' || !config.policy.keepContext) {
    s = releaseContext(s);
    s = { ...s, finalText: appendText(s.finalText, words.map((w) => w.word)) };
    s = trimTo(s, cutAt, out);
  } else {
    // The utterance stays in the window as the next one's context: its words become the
    // forced prefix and its audio stays, so an endpoint ends a result, not what the decoder
    // hears (see CONTEXT_PAUSE_S).
    s = { ...s, committed: [...s.committed, ...words.map((word) => ({ word, tokens: config.wordTokens(word.word) }))] };
  }
  s = {
    ...s,
    contextWords: s.committed.length,
    openTailStart: null,
    emittedUntil: Math.max(s.emittedUntil, cutAt),
    flushedUntil: Math.max(s.flushedUntil, cutAt),
    agreement: NO_AGREEMENT,
    speechCheck: UNCHECKED,
    lastHopAt: cutAt,
    flush: null,
  };
  if (kind === 'cap') {
    s = { ...s, phase: SessionPhase.Speaking };
  } else {
    // Endpoints detected after this flush's audio belong to the utterances that follow; a
    // pause inside the next utterance is not its end: only an endpoint ends it.
    const endpoints = s.endpoints.filter((at) => at > end);
    const open = speech.inUtterance || endpoints.length > 0;
    s = { ...s, endpoints, phase: open ? SessionPhase.Speaking : SessionPhase.Listening };
  }
  s = checkUtteranceEnd(s, speech, config, out);
  out.push({ type: 'flush-done', kind });
  return s;
}

/** The open utterance holds nothing final of its own yet and follows a kept context. */
function followsContext(s: SessionState): boolean {
  return s.contextWords > 0 && s.committed.length === s.contextWords;
}

/** The seconds of speech a speech check would hear now, if one is due. */
function speechCheckDue(s: SessionState, speech: SpeechEvidence, config: SessionConfig): number | null {
  const { verdict, heardS } = s.speechCheck;
  if (!config.policy.checkSpeech || !followsContext(s) || verdict === 'checking' || verdict === 'speech') return null;
  const heard = speech.speechSecondsIn(committedEnd(s) / SAMPLE_RATE, s.received / SAMPLE_RATE);
  return heard >= Math.max(SPEECH_CHECK_AFTER_S, 2 * heardS) ? heard : null;
}

/** A decode of the open tail up to `until`, in the stream's window, after the final words. */
function tailDecode(s: SessionState, purpose: 'live' | 'final', until: number): DecodeCommand {
  return {
    type: 'decode-tail',
    purpose,
    generation: s.generation,
    from: s.bufferStart,
    until,
    previousText: s.finalText,
    prefixTokens: s.committed.flatMap((c) => c.tokens),
    prefixEnd: committedEnd(s),
  };
}

/** Where the final words' audio ends (the kept audio's start when there are none). */
export function committedEnd(s: SessionState): number {
  const last = s.committed[s.committed.length - 1];
  return last ? Math.max(s.bufferStart, Math.round(last.word.end * SAMPLE_RATE)) : s.bufferStart;
}

function committedWords(s: SessionState): string[] {
  return s.committed.map((c) => c.word.word);
}

/** Final words leave the window: they become prompt text, as Whisper's earlier text. */
function releaseContext(s: SessionState): SessionState {
  if (s.committed.length === 0) return { ...s, contextWords: 0 };
  return { ...s, contextWords: 0, finalText: appendText(s.finalText, committedWords(s)), committed: [] };
}

/** Forgets audio before `sample`, keeping a pre-roll so the next utterance's onset survives. */
function dropSilenceBefore(state: SessionState, sample: number, out: SessionCommand[]): SessionState {
  let s = state;
  if (s.committed.length > 0) {
    if (sample - committedEnd(s) < CONTEXT_PAUSE_S * SAMPLE_RATE) return s;
    s = releaseContext(s);
  }
  // Until the first speech the VAD is still learning the background from the stream's first
  // frames, and a talker heard from the first frame on is taken for it until a pause: the
  // opening seconds stay, so that the first utterance's decode hears its first words.
  if (!s.heardSpeech && sample <= STREAM_OPENING_S * SAMPLE_RATE) return s;
  const keepFrom = Math.max(s.bufferStart, sample - PREROLL_S * SAMPLE_RATE);
  s = trimTo(s, keepFrom, out);
  return { ...s, emittedUntil: Math.max(s.emittedUntil, keepFrom) };
}

function trimTo(s: SessionState, sample: number, out: SessionCommand[]): SessionState {
  const drop = Math.min(s.received - s.bufferStart, Math.max(0, Math.floor(sample - s.bufferStart)));
  if (drop === 0) return s;
  out.push({ type: 'trim', before: s.bufferStart + drop });
  return { ...s, bufferStart: s.bufferStart + drop };
}

/**
 * Keeps a long utterance's decoding window bounded: final words older than the window's budget
 * leave it (cut where the next word starts) and become prompt text.
 */
function slideWindow(s: SessionState, config: SessionConfig, out: SessionCommand[]): SessionState {
  if (s.received - s.bufferStart <= config.policy.maxWindowS * SAMPLE_RATE || s.committed.length === 0) return s;
  const cut = Math.min(s.openTailStart ?? committedEnd(s), committedEnd(s) + 0.1 * SAMPLE_RATE);
  const trimmed = trimTo(releaseContext(s), cut, out);
  return { ...trimmed, emittedUntil: Math.max(trimmed.emittedUntil, cut) };
}

function checkUtteranceEnd(s: SessionState, speech: SpeechEvidence, config: SessionConfig, out: SessionCommand[]): SessionState {
  const gapMs = config.utteranceEndMs;
  if (gapMs === null || s.utteranceEndSent || s.lastWordEnd === null || speech.isSpeech) return s;
  if (s.received / SAMPLE_RATE - s.lastWordEnd < gapMs / 1000) return s;
  out.push({ type: 'emit', event: { type: 'utterance_end', lastWordEnd: round(s.lastWordEnd) } });
  return { ...s, utteranceEndSent: true };
}

function results(
  s: SessionState,
  words: readonly ResultWord[],
  span: { isFinal: boolean; speechFinal: boolean; fromFinalize: boolean; start: number; end: number },
): SessionCommand {
  return {
    type: 'emit',
    event: {
      type: 'results',
      isFinal: span.isFinal,
      speechFinal: span.speechFinal,
      fromFinalize: span.fromFinalize,
      start: round(span.start / SAMPLE_RATE),
      duration: round((span.end - span.start) / SAMPLE_RATE),
      transcript: words.map((w) => w.word).join(' '),
      confidence: words.length > 0 ? round(words.reduce((sum, w) => sum + w.confidence, 0) / words.length) : 0,
      words: [...words],
      lag: round(lagSamples(s) / SAMPLE_RATE),
    },
  };
}

/**
 * No-speech probability above which a weaker decode's segment is taken for noise. Across the
 * live evaluation's sets every weaker decode of real speech scored at most 0.36; noise after
 * a talker (the crowd after JFK's last word, a whistle, a browser's gain-boosted room) scored
 * 0.45 to 0.85 as "Thank you.", "Take.", "I'm sorry." (bench/RESULTS.md). Whisper's own gate
 * (0.6, and a low log-probability besides) lets those through.
 */
const WEAK_NO_SPEECH_MAX = 0.4;
/** The same bound for a speech check, read in its shorter window (calibrated separately). */
const CHECK_NO_SPEECH_MAX = 0.4;

/**
 * The segments that a decode started on weaker evidence (a second look, an utterance right
 * after speech) keeps: no-speech probability alone must say speech, and the segment must not
 * be one phrase said over and over ("Free. Free. Free.", "I'm free. I'm free."), which is how
 * the model loops on noise that it takes for a crowd's voice.
 */
export function heardAsSpeech(segments: readonly Segment[]): Segment[] {
  return segments.filter((seg) => seg.noSpeechProb <= WEAK_NO_SPEECH_MAX && !repeatsItself(seg.text));
}

/** A speech check's verdict: the same rule as heardAsSpeech, and some text at all. */
export function judgedSpeech(judgement: SpeechJudgement): boolean {
  return judgement.noSpeechProb <= CHECK_NO_SPEECH_MAX && judgement.text.trim() !== '' && !repeatsItself(judgement.text);
}

/** At least three words, and each said twice or more on average. */
export function repeatsItself(text: string): boolean {
  const words = normalizeBasic(text).split(' ').filter(Boolean);
  return words.length >= 3 && new Set(words).size * 2 <= words.length;
}

/**
 * Words timed from segments, kept inside the audio that was decoded: a segment's closing
 * timestamp can lie past the audio's end (Whisper times a window's last segment against the
 * padded window), and a final word timed in the future would hold every later decode back.
 */
function withinAudio(words: ResultWord[], endSample: number): ResultWord[] {
  const endS = round(endSample / SAMPLE_RATE);
  return words.map((w) => (w.end <= endS ? w : { ...w, start: Math.min(w.start, endS), end: endS }));
}

function toStreamWord(w: HypothesisWord, originSample: number): ResultWord {
  const offset = originSample / SAMPLE_RATE;
  return { word: w.word, start: round(offset + w.start), end: round(offset + w.end), confidence: round(w.confidence) };
}

/** The prompt text: what the stream said so far, bounded (the decoder keeps its last words). */
function appendText(text: string, words: readonly string[]): string {
  return `${text} ${words.join(' ')}`.slice(-2000);
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
