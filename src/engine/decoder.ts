// Decodes one encoded 30 s window: the prompt (previous text and task tokens) is fed once,
// then one token per step for every live hypothesis in a single batched device call.
// Greedy at temperature 0, best-of-N sampling above it, beam search on request.
import { deflateSync } from 'node:zlib';
import type { WhisperModel } from './whisper.js';
import { argmax, LogitFilters, logSumExp, topK } from './logit-filters.js';

export interface WindowTask {
  /** encoded window handle */
  window: number;
  /** text tokens of previous windows, conditioning this one (may be empty) */
  previous: number[];
  /** language code for multilingual models; null detects it */
  language: string | null;
  task: 'transcribe' | 'translate';
  withoutTimestamps: boolean;
  maxInitialTimestamp: number | null;
  suppressBlank: boolean;
  /** tokens the model may sample before giving up on reaching end-of-text */
  sampleLen: number;
}

export interface SearchOptions {
  temperature: number;
  beamSize: number;
  bestOf: number;
  patience: number;
  /** null: rank by mean log-probability; else Google NMT's ((5 + length) / 6) ** alpha */
  lengthPenalty: number | null;
  random: () => number;
}

export interface WindowResult {
  tokens: number[];
  text: string;
  sumLogprob: number;
  avgLogprob: number;
  noSpeechProb: number;
  temperature: number;
  compressionRatio: number;
  language: string | null;
}

interface Hypothesis {
  session: number;
  tokens: number[];
  sumLogprob: number;
  done: boolean;
}

export function compressionRatio(text: string): number {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length === 0) return 0;
  return bytes.length / deflateSync(bytes).length;
}

function softmaxAt(logits: Float32Array, token: number): number {
  return Math.exp(logits[token] - logSumExp(logits));
}

export class WindowDecoder {
  constructor(private readonly model: WhisperModel) {}

  async decode(task: WindowTask, search: SearchOptions): Promise<WindowResult> {
    const { model } = this;
    const { tokenizer } = model;
    const special = tokenizer.special;
    const nVocab = model.info.nVocab;

    const prefix: number[] = [];
    if (task.previous.length > 0) {
      prefix.push(special.sotPrev, ...task.previous.slice(-(Math.floor(model.info.nTextCtx / 2) - 1)));
    }
    prefix.push(special.sot);
    const root = model.native.createSession(task.window);
    if (root < 0) throw new Error('KV pool exhausted: no session slot for decoding');
    const sessions = new Set<number>([root]);
    try {
      // The logits at <|startoftranscript|> give the no-speech probability and the language.
      const logits = new Float32Array(Math.max(search.beamSize, search.bestOf, 1) * nVocab);
      await this.feed([root], [0], [prefix], logits);
      const atSot = logits.slice(0, nVocab);
      const noSpeechProb = softmaxAt(atSot, special.noSpeech);
      let language = task.language;
      if (model.multilingual && language === null) language = detectLanguage(atSot, special.languages);
      const taskTokens: number[] = [];
      if (model.multilingual) {
        const langToken = special.languages.get(language ?? 'en');
        if (langToken === undefined) throw new Error(`model does not know language "${language}"`);
        taskTokens.push(langToken, (task.task === 'translate' ? special.translate : special.transcribe)!);
      }
      if (task.withoutTimestamps) taskTokens.push(special.noTimestamps);
      let position = prefix.length;
      if (taskTokens.length > 0) {
        await this.feed([root], [position], [taskTokens], logits);
        position += taskTokens.length;
      }
      const filters = new LogitFilters(tokenizer, {
        withoutTimestamps: task.withoutTimestamps,
        maxInitialTimestamp: task.maxInitialTimestamp,
        suppressIds: model.config.suppressIds,
        suppressIdsBegin: model.config.suppressIdsBegin,
        suppressBlank: task.suppressBlank,
      });
      const first = logits.slice(0, nVocab);
      const sampleLen = Math.min(task.sampleLen, model.info.nTextCtx - position);
      const best =
        search.temperature === 0 && search.beamSize > 1
          ? await this.beamSearch(root, position, first, filters, search, sampleLen, sessions)
          : await this.sample(root, position, first, filters, search, sampleLen, sessions);
      const tokens = best.tokens.filter((t) => t !== special.eot);
      const text = tokenizer.decode(tokens);
      return {
        tokens,
        text,
        sumLogprob: best.sumLogprob,
        avgLogprob: best.sumLogprob / (tokens.length + 1),
        noSpeechProb,
        temperature: search.temperature,
        compressionRatio: compressionRatio(text),
        language,
      };
    } finally {
      await Promise.all([...sessions].map((s) => model.native.releaseSession(s)));
    }
  }

  private async feed(sessions: number[], positions: number[], tokens: number[][], logits: Float32Array) {
    await this.model.native.decode(
      Int32Array.from(sessions),
      Int32Array.from(positions),
      Int32Array.from(tokens, (t) => t.length),
      Int32Array.from(tokens.flat()),
      logits,
    );
  }

  /** Greedy (temperature 0) or best-of-N sampling; hypotheses advance together, one batched step each. */
  private async sample(
    root: number,
    position: number,
    first: Float32Array,
    filters: LogitFilters,
    search: SearchOptions,
    sampleLen: number,
    sessions: Set<number>,
  ): Promise<Hypothesis> {
    const { model } = this;
    const eot = model.tokenizer.special.eot;
    const nVocab = model.info.nVocab;
    const count = search.temperature > 0 ? Math.max(1, search.bestOf) : 1;
    const hyps: Hypothesis[] = [{ session: root, tokens: [], sumLogprob: 0, done: false }];
    for (let i = 1; i < count; i++) {
      const forked = await model.native.forkSession(root);
      if (forked < 0) break;
      sessions.add(forked);
      hyps.push({ session: forked, tokens: [], sumLogprob: 0, done: false });
    }
    const logits = new Float32Array(hyps.length * nVocab);
    for (let i = 0; i < hyps.length; i++) logits.set(first, i * nVocab);
    let live = hyps;
    for (let step = 0; step < sampleLen && live.length > 0; step++) {
      const next: number[] = [];
      live.forEach((h, i) => {
        const row = logits.subarray(i * nVocab, (i + 1) * nVocab);
        const norm = filters.apply(row, h.tokens);
        const token = search.temperature > 0 ? sampleToken(row, search.temperature, search.random) : argmax(row);
        h.sumLogprob += row[token] - norm;
        h.tokens.push(token);
        if (token === eot) h.done = true;
        next.push(token);
      });
      const stillLive = live.filter((h) => !h.done);
      if (stillLive.length === 0 || step === sampleLen - 1) break;
      await this.feed(
        stillLive.map((h) => h.session),
        stillLive.map(() => position + step),
        stillLive.map((h) => [h.tokens[h.tokens.length - 1]]),
        logits,
      );
      live = stillLive;
    }
    return rank(hyps, search.lengthPenalty, eot);
  }

  private async beamSearch(
    root: number,
    position: number,
    first: Float32Array,
    filters: LogitFilters,
    search: SearchOptions,
    sampleLen: number,
    sessions: Set<number>,
  ): Promise<Hypothesis> {
    const { model } = this;
    const eot = model.tokenizer.special.eot;
    const nVocab = model.info.nVocab;
    const beamSize = search.beamSize;
    const maxFinished = Math.max(1, Math.round(beamSize * search.patience));
    let beams: Hypothesis[] = [{ session: root, tokens: [], sumLogprob: 0, done: false }];
    const finished: Hypothesis[] = [];
    const logits = new Float32Array(beamSize * nVocab);
    logits.set(first, 0);
    for (let step = 0; step < sampleLen; step++) {
      const candidates: { from: number; token: number; score: number }[] = [];
      beams.forEach((beam, i) => {
        const row = logits.subarray(i * nVocab, (i + 1) * nVocab);
        const norm = filters.apply(row, beam.tokens);
        for (const token of topK(row, beamSize + 1)) {
          if (row[token] === -Infinity) continue;
          candidates.push({ from: i, token, score: beam.sumLogprob + row[token] - norm });
        }
      });
      candidates.sort((a, b) => b.score - a.score);
      const chosen: { from: number; token: number; score: number }[] = [];
      for (const c of candidates) {
        if (c.token === eot) {
          if (finished.length < maxFinished) {
            finished.push({ session: -1, tokens: [...beams[c.from].tokens, eot], sumLogprob: c.score, done: true });
          }
        } else if (chosen.length < beamSize) {
          chosen.push(c);
        }
        if (chosen.length >= beamSize && finished.length >= maxFinished) break;
      }
      if (finished.length >= maxFinished || chosen.length === 0 || step === sampleLen - 1) {
        if (finished.length === 0) {
          for (const c of chosen) finished.push({ session: -1, tokens: [...beams[c.from].tokens, c.token], sumLogprob: c.score, done: true });
        }
        break;
      }
      // The first beam continuing from a parent keeps its cache; the others copy it.
      const usedParents = new Set<number>();
      const nextBeams: Hypothesis[] = [];
      for (const c of chosen) {
        const parent = beams[c.from];
        let session = parent.session;
        if (usedParents.has(c.from)) {
          session = await model.native.forkSession(parent.session);
          if (session < 0) continue;
          sessions.add(session);
        }
        usedParents.add(c.from);
        nextBeams.push({ session, tokens: [...parent.tokens, c.token], sumLogprob: c.score, done: false });
      }
      beams.forEach((b, i) => {
        if (!usedParents.has(i)) {
          sessions.delete(b.session);
          void model.native.releaseSession(b.session);
        }
      });
      beams = nextBeams;
      await this.feed(
        beams.map((b) => b.session),
        beams.map(() => position + step),
        beams.map((b) => [b.tokens[b.tokens.length - 1]]),
        logits,
      );
    }
    return rank(finished, search.lengthPenalty, eot);
  }
}

function rank(hyps: Hypothesis[], lengthPenalty: number | null, eot: number): Hypothesis {
  let best = hyps[0];
  let bestScore = -Infinity;
  for (const h of hyps) {
    const length = h.tokens.filter((t) => t !== eot).length;
    const penalty = lengthPenalty === null ? Math.max(1, length) : ((5 + length) / 6) ** lengthPenalty;
    const score = h.sumLogprob / penalty;
    if (score > bestScore) {
      bestScore = score;
      best = h;
    }
  }
  return best;
}

const sampleWeights = new Float64Array(65536);

function sampleToken(logits: Float32Array, temperature: number, random: () => number): number {
  let max = -Infinity;
  for (let t = 0; t < logits.length; t++) if (logits[t] > max) max = logits[t];
  const weights = logits.length <= sampleWeights.length ? sampleWeights : new Float64Array(logits.length);
  let total = 0;
  for (let t = 0; t < logits.length; t++) {
    const v = logits[t];
    const w = v === -Infinity ? 0 : Math.exp((v - max) / temperature);
    weights[t] = w;
    total += w;
  }
  let r = random() * total;
  for (let t = 0; t < logits.length; t++) {
    r -= weights[t];
    if (r <= 0 && weights[t] > 0) return t;
  }
  return argmax(logits);
}

function detectLanguage(logits: Float32Array, languages: Map<string, number>): string {
  let best = 'en';
  let bestLogit = -Infinity;
  for (const [code, token] of languages) {
    if (logits[token] > bestLogit) {
      bestLogit = logits[token];
      best = code;
    }
  }
  return best;
}
