/**
 * Deepgram's pre-recorded transcription response (`POST /v1/listen`), built from a file
 * transcript in the shape Deepgram's SDKs return from `transcribeFile` (the v5 SDK's
 * `ListenV1Response`): `metadata` as in the live `Metadata` message without its `type`, and
 * `results.channels[0].alternatives[0]` with the transcript, its confidence and its words,
 * plus `paragraphs` and `results.utterances` when asked for. Pure: no sockets, no model.
 *
 * Word times come from the engine's cross-attention alignment (src/stream/timestamps.ts), as
 * for live results; a transcript without aligned words falls back to segment times shared
 * among the words.
 */
import { randomUUID } from 'node:crypto';
import type { Transcript } from '../engine/transcribe.js';
import type { Word } from '../stream/stabilizer.js';
import { wordsFromAlignment, wordsFromSegment } from '../stream/timestamps.js';
import type { ParameterWarning } from './protocol.js';
import { metadataMessage, plainTranscript, plainWord, type MetadataMessage, type ModelInfo } from './protocol-messages.js';

export interface PrerecordedOptions {
  /** `punctuated_word`, and Whisper's casing and punctuation in transcripts */
  punctuate: boolean;
  utterances: boolean;
  /** the pause between two words, in seconds, from which they belong to different utterances */
  uttSplit: number;
  paragraphs: boolean;
  /** name the detected language on the channel (`detected_language`) */
  detectLanguage: boolean;
  /** with several channels: each word's `speaker` is its channel (diarize=true with multichannel) */
  speakerPerChannel?: boolean;
}

export interface PrerecordedContext {
  requestId: string;
  /** hex SHA-256 of the request body */
  sha256: string;
  created: Date;
  model: ModelInfo;
  extra: Record<string, string>;
  warnings: ParameterWarning[];
}

export interface PrerecordedWord {
  word: string;
  start: number;
  end: number;
  confidence: number;
  /** only with punctuation on, as Deepgram sends it */
  punctuated_word?: string;
  /** with diarize=true on a multichannel file: the channel */
  speaker?: number;
}

export interface Sentence {
  text: string;
  start: number;
  end: number;
}

export interface Paragraph {
  sentences: Sentence[];
  num_words: number;
  start: number;
  end: number;
}

export interface Utterance {
  start: number;
  end: number;
  confidence: number;
  channel: number;
  /** with diarize=true on a multichannel file: the channel */
  speaker?: number;
  transcript: string;
  words: PrerecordedWord[];
  id: string;
}

export interface Alternative {
  transcript: string;
  confidence: number;
  words: PrerecordedWord[];
  paragraphs?: { transcript: string; paragraphs: Paragraph[] };
}

export interface PrerecordedResponse {
  metadata: Omit<MetadataMessage, 'type'>;
  results: {
    /** One per channel: one mixed channel, or each channel of a multichannel file. */
    channels: Array<{ alternatives: [Alternative]; detected_language?: string }>;
    utterances?: Utterance[];
  };
}

/** Deepgram's default `utt_split`. */
export const DEFAULT_UTT_SPLIT_S = 0.8;
/**
 * A pause this long between sentences starts a new paragraph: longer than a breath between
 * sentences of one thought, the length at which a listener hears the speaker move on.
 */
export const PARAGRAPH_PAUSE_S = 2;
/** A paragraph that has reached this many words ends with its sentence, so a monologue without long pauses still reads in paragraphs. */
export const PARAGRAPH_MAX_WORDS = 100;

// A sentence ends at terminal punctuation, possibly followed by closing quotes or brackets.
const SENTENCE_END = /[.?!…。？！]["'”’)\]]*$/u;

/**
 * `transcript`: the file's, or one per channel of a multichannel file (`results.channels[c]`,
 * and utterances of every channel in time order, each naming its channel).
 */
export function prerecordedResponse(transcript: Transcript | Transcript[], options: PrerecordedOptions, context: PrerecordedContext): PrerecordedResponse {
  const transcripts = Array.isArray(transcript) ? transcript : [transcript];
  const speakers = options.speakerPerChannel === true && transcripts.length > 1;
  const timedByChannel = transcripts.map((t) => timedWords(t));
  const channels = transcripts.map((t, c) => {
    const timed = timedByChannel[c];
    const words = timed.map((w) => renderWord(w, options.punctuate, speakers ? c : undefined));
    const text = t.text.trim();
    const alternative: Alternative = {
      transcript: options.punctuate ? text : plainTranscript(text),
      confidence: meanConfidence(timed),
      words,
    };
    if (options.paragraphs) alternative.paragraphs = paragraphsOf(timed);
    const channel: PrerecordedResponse['results']['channels'][0] = { alternatives: [alternative] };
    if (options.detectLanguage && t.language !== null) channel.detected_language = t.language;
    return channel;
  });
  const results: PrerecordedResponse['results'] = { channels };
  if (options.utterances) {
    results.utterances = timedByChannel
      .flatMap((timed, c) => utterancesOf(timed, options, c, speakers ? c : undefined))
      .sort((a, b) => a.start - b.start || a.channel - b.channel);
  }

  const { type: _type, ...metadata } = metadataMessage({
    requestId: context.requestId,
    sha256: context.sha256,
    created: context.created,
    duration: Math.max(...transcripts.map((t) => t.durationS)),
    // One transcript of the mixed channels, or one per channel with multichannel=true.
    channels: transcripts.length,
    model: context.model,
    extra: context.extra,
    warnings: context.warnings,
  });
  return { metadata, results };
}

/** Words as Whisper spelled them (cased, punctuated), timed in seconds from the start of the file. */
function timedWords(transcript: Transcript): Word[] {
  return transcript.segments
    .flatMap((s) => (s.words ? wordsFromAlignment(s.words, 0) : wordsFromSegment(s, 0)))
    .filter((w) => plainWord(w.word) !== '');
}

function renderWord(w: Word, punctuate: boolean, speaker?: number): PrerecordedWord {
  const rendered: PrerecordedWord = { word: plainWord(w.word), start: w.start, end: w.end, confidence: w.confidence };
  if (punctuate) rendered.punctuated_word = w.word;
  if (speaker !== undefined) rendered.speaker = speaker;
  return rendered;
}

function meanConfidence(words: readonly Word[]): number {
  if (words.length === 0) return 0;
  return Math.round((words.reduce((sum, w) => sum + w.confidence, 0) / words.length) * 10_000) / 10_000;
}

/** In whole milliseconds, the precision of word times, so that 1.7 - 0.9 reaches 0.8. */
function pauseReaches(from: number, to: number, seconds: number): boolean {
  return Math.round((to - from) * 1000) >= Math.round(seconds * 1000);
}

/** Splits the words where the pause between two of them reaches `uttSplit`, as Deepgram's utterances do. */
export function utterancesOf(
  words: readonly Word[],
  options: Pick<PrerecordedOptions, 'uttSplit' | 'punctuate'>,
  channel = 0,
  speaker?: number,
): Utterance[] {
  const groups: Word[][] = [];
  for (const word of words) {
    const current = groups[groups.length - 1];
    if (current && !pauseReaches(current[current.length - 1].end, word.start, options.uttSplit)) current.push(word);
    else groups.push([word]);
  }
  return groups.map((group) => {
    const rendered = group.map((w) => renderWord(w, options.punctuate, speaker));
    return {
      start: group[0].start,
      end: group[group.length - 1].end,
      confidence: meanConfidence(group),
      channel,
      ...(speaker === undefined ? {} : { speaker }),
      transcript: rendered.map((w) => w.punctuated_word ?? w.word).join(' '),
      words: rendered,
      id: randomUUID(),
    };
  });
}

/**
 * Sentences end at terminal punctuation; a paragraph ends where the pause before the next
 * sentence reaches PARAGRAPH_PAUSE_S, or with the sentence that takes it to PARAGRAPH_MAX_WORDS.
 * Sentences keep Whisper's punctuation whatever `punctuate` says: without it there would be no
 * sentences, which is why Deepgram turns punctuation on with paragraphs.
 */
export function paragraphsOf(words: readonly Word[]): { transcript: string; paragraphs: Paragraph[] } {
  const sentences: Word[][] = [];
  let open: Word[] = [];
  for (const word of words) {
    open.push(word);
    if (SENTENCE_END.test(word.word)) {
      sentences.push(open);
      open = [];
    }
  }
  if (open.length > 0) sentences.push(open);

  const grouped: Word[][][] = [];
  let wordsInParagraph = 0;
  for (const sentence of sentences) {
    const current = grouped[grouped.length - 1];
    const previousEnd = current?.[current.length - 1].at(-1)?.end;
    if (current && previousEnd !== undefined && !pauseReaches(previousEnd, sentence[0].start, PARAGRAPH_PAUSE_S) && wordsInParagraph < PARAGRAPH_MAX_WORDS) {
      current.push(sentence);
      wordsInParagraph += sentence.length;
    } else {
      grouped.push([sentence]);
      wordsInParagraph = sentence.length;
    }
  }

  const paragraphs = grouped.map((group): Paragraph => {
    const first = group[0][0];
    const last = group[group.length - 1].at(-1)!;
    return {
      sentences: group.map((s) => ({ text: s.map((w) => w.word).join(' '), start: s[0].start, end: s[s.length - 1].end })),
      num_words: group.reduce((sum, s) => sum + s.length, 0),
      start: first.start,
      end: last.end,
    };
  });
  // Deepgram's paragraph transcript opens with a line break and puts a blank line between paragraphs.
  const transcript = paragraphs.map((p) => '\n' + p.sentences.map((s) => s.text).join(' ')).join('\n');
  return { transcript, paragraphs };
}
