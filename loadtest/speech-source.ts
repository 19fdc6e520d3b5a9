// What a load-test stream plays: clips of real speech with their reference transcripts, back
// to back with a second of silence between them (like turns in a call), until the stream's
// duration is used up; or, for a call, two readers taking turns on two channels. Clips come
// from evaluation sets (../shared/eval) or from files given on the command line, whose
// transcripts are looked up beside them.
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { loadAudioFile } from '../src/audio/load.js';
import { clipsBySet } from '../src/eval/manifest.js';

const SAMPLE_RATE = 16000;
export const GAP_S = 1;

export interface SpeechClip {
  id: string;
  path: string;
  /** reference transcript; null when none is known, and then no WER is scored */
  text: string | null;
  durationS: number;
}

export interface StreamProgram {
  pcm: Float32Array;
  clips: SpeechClip[];
  /** the references of the clips joined, or null if any clip has none */
  ref: string | null;
}

export function clipsFromSets(sets: readonly string[]): SpeechClip[] {
  return clipsBySet(sets).map((c) => ({ id: c.id, path: c.path, text: c.text, durationS: c.durationS }));
}

/**
 * Audio files named by the user. A transcript comes from a manifest.jsonl in the same folder
 * that lists the file (the layout of ../shared/eval and test/fixtures/audio), else from a
 * sidecar `NAME.txt`; without either the file still loads the server but scores no WER.
 */
export async function clipsFromFiles(paths: readonly string[]): Promise<SpeechClip[]> {
  return Promise.all(
    paths.map(async (given) => {
      const path = resolve(given);
      const audio = await decodedAudio(path);
      return {
        id: basename(path).replace(/\.[^.]+$/, ''),
        path,
        text: referenceFor(path),
        durationS: audio.length / SAMPLE_RATE,
      };
    }),
  );
}

function referenceFor(path: string): string | null {
  const manifest = join(dirname(path), 'manifest.jsonl');
  if (existsSync(manifest)) {
    for (const line of readFileSync(manifest, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const entry = JSON.parse(line) as { path?: string; text?: string };
      if (entry.path && resolve(dirname(path), entry.path) === path && typeof entry.text === 'string') return entry.text;
    }
  }
  const sidecar = path.replace(/\.[^.]+$/, '') + '.txt';
  return existsSync(sidecar) ? readFileSync(sidecar, 'utf8').trim() : null;
}

// Hundreds of streams replay the same few clips; decoding each once keeps start-up and memory flat.
const decoded = new Map<string, Promise<Float32Array>>();

function decodedAudio(path: string): Promise<Float32Array> {
  let audio = decoded.get(path);
  if (!audio) {
    audio = loadAudioFile(path).then((a) => a.samples);
    decoded.set(path, audio);
  }
  return audio;
}

/**
 * Whole clips from `firstClip` on (wrapping around) until at least `durationS` seconds are
 * queued: clips are never cut, so every word played has its place in the reference.
 */
export async function streamProgram(clips: readonly SpeechClip[], durationS: number, firstClip: number): Promise<StreamProgram> {
  if (clips.length === 0) throw new Error('no clips to stream');
  const used: SpeechClip[] = [];
  let queuedS = 0;
  while (queuedS < durationS) {
    const clip = clips[(firstClip + used.length) % clips.length];
    used.push(clip);
    queuedS += clip.durationS + GAP_S;
  }
  const parts = await Promise.all(used.map((c) => decodedAudio(c.path)));
  const gap = GAP_S * SAMPLE_RATE;
  const pcm = new Float32Array(parts.reduce((n, p) => n + p.length + gap, 0));
  let at = 0;
  for (const part of parts) {
    pcm.set(part, at);
    at += part.length + gap;
  }
  return { pcm, clips: used, ref: referenceOf(used) };
}

/** The clips' references joined, or null if any has none (then no WER is scored). */
function referenceOf(clips: readonly SpeechClip[]): string | null {
  return clips.every((c) => c.text !== null) ? clips.map((c) => c.text).join(' ') : null;
}

/** The longest a program for `durationS` can run: one clip may start just before the mark. */
export function longestProgramS(clips: readonly SpeechClip[], durationS: number): number {
  return durationS + Math.max(0, ...clips.map((c) => c.durationS)) + GAP_S;
}

// ---------------------------------------------------------------------------------------
// Calls: two readers, one per channel, taking turns

/** One channel of what a stream plays: its speaker's clips and their reference. */
export interface ChannelProgram {
  /** the reader on this channel (speakerOf), null for a one-channel stream */
  speaker: string | null;
  /** 16 kHz, as long as every other channel of the stream: silent while another speaks */
  pcm: Float32Array;
  clips: SpeechClip[];
  /** the references of this channel's clips joined, or null if any has none */
  ref: string | null;
}

export interface CallProgram {
  channels: ChannelProgram[];
  /** every clip in the order spoken */
  clips: SpeechClip[];
}

/** A one-channel stream seen as channels (one), so streams and calls are scored alike. */
export function monoChannels(program: StreamProgram): CallProgram {
  return { channels: [{ speaker: null, pcm: program.pcm, clips: program.clips, ref: program.ref }], clips: program.clips };
}

/**
 * Who reads a clip: LibriSpeech ids (`READER-CHAPTER-UTTERANCE`) name their reader; any other
 * clip (a file, another set) counts as a speaker of its own, since nothing says otherwise.
 */
export function speakerOf(clipId: string): string {
  return /^(\d+)-\d+-\d+$/.exec(clipId)?.[1] ?? clipId;
}

export interface CallCast {
  /** channel 0's reader and clips, then channel 1's */
  speakers: [{ speaker: string; clips: SpeechClip[] }, { speaker: string; clips: SpeechClip[] }];
  /** where in each reader's clips the call starts */
  firstClip: number;
}

/**
 * Who speaks on call number `call`: two different readers of the clips, chosen so that
 * consecutive calls differ in their pair and in who is on channel 0, and calls beyond
 * readers² start later in each reader's clips.
 */
export function callCast(clips: readonly SpeechClip[], call: number): CallCast {
  const bySpeaker = new Map<string, SpeechClip[]>();
  for (const clip of clips) bySpeaker.set(speakerOf(clip.id), [...(bySpeaker.get(speakerOf(clip.id)) ?? []), clip]);
  const readers = [...bySpeaker.keys()];
  const n = readers.length;
  if (n < 2) throw new Error(`a call needs two different speakers; the clips have ${n} (${readers.join(', ')})`);
  const first = call % n;
  const round = Math.floor(call / n);
  const second = (first + 1 + (round % (n - 1))) % n;
  const cast = (i: number) => ({ speaker: readers[i], clips: bySpeaker.get(readers[i])! });
  return { speakers: [cast(first), cast(second)], firstClip: Math.floor(round / (n - 1)) };
}

export interface Turn {
  channel: number;
  clip: SpeechClip;
}

/**
 * The turns of a call: channel 0's reader, then channel 1's, and so on, each reading their own
 * clips in order from `firstClip` (wrapping), until at least `durationS` seconds (with a
 * GAP_S pause after each turn) are queued and both have spoken. Whole clips only, as for streams.
 */
export function callTurns(speakers: readonly (readonly SpeechClip[])[], durationS: number, firstClip: number): Turn[] {
  const turns: Turn[] = [];
  let queuedS = 0;
  while (queuedS < durationS || turns.length < speakers.length) {
    const channel = turns.length % speakers.length;
    const own = speakers[channel];
    const clip = own[(firstClip + Math.floor(turns.length / speakers.length)) % own.length];
    turns.push({ channel, clip });
    queuedS += clip.durationS + GAP_S;
  }
  return turns;
}

/** A cast's two readers taking callTurns on channels 0 and 1. */
export async function callProgram(cast: CallCast, durationS: number): Promise<CallProgram> {
  const turns = callTurns(cast.speakers.map((s) => s.clips), durationS, cast.firstClip);
  const parts = await Promise.all(turns.map((t) => decodedAudio(t.clip.path)));
  const gap = GAP_S * SAMPLE_RATE;
  const length = parts.reduce((n, p) => n + p.length + gap, 0);
  const pcm = cast.speakers.map(() => new Float32Array(length));
  let at = 0;
  turns.forEach((turn, i) => {
    pcm[turn.channel].set(parts[i], at);
    at += parts[i].length + gap;
  });
  return {
    channels: cast.speakers.map((s, channel) => {
      const own = turns.filter((t) => t.channel === channel).map((t) => t.clip);
      return { speaker: s.speaker, pcm: pcm[channel], clips: own, ref: referenceOf(own) };
    }),
    clips: turns.map((t) => t.clip),
  };
}

/** The longest a call for `durationS` can run: as a stream, but never less than one turn each. */
export function longestCallS(clips: readonly SpeechClip[], durationS: number): number {
  return Math.max(longestProgramS(clips, durationS), 2 * (Math.max(0, ...clips.map((c) => c.durationS)) + GAP_S));
}
