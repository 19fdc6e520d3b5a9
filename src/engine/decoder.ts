// Decodes one encoded 30 s window: the prompt (previous text and task tokens) is fed once,
// then one token per step for every live hypothesis in a single batched device call.
// Greedy at temperature 0, best-of-N sampling above it, beam search on request.
import { deflateSync } from 'node:zlib';
import type { ExtraRow } from './device-scheduler.js';
import type { Urgency } from './scheduler-step.js';
import type { WhisperModel } from './whisper.js';
import { alignmentMatrix, attentionPeaks, MEDIAN_FILTER_WIDTH, mergeWords, rowSpans, type AlignedWord } from './alignment.js';
import { SECONDS_PER_TOKEN_STEP, WINDOW_FRAMES } from './features.js';
import { argmax, LogitFilters, logSumExp, topK } from './logit-filters.js';
import type { PromptCache } from './prompt-cache.js';

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
  /** the scheduler serves 'flush' work (someone waits for finals) before 'live' work */
  urgency: Urgency;
  /** time every word by cross-attention alignment (needs the model's alignment heads) */
  wordTimestamps?: boolean;
  /** mel frames of audio in the full 30 s window (default: all); words are never aligned to padding */
  contentFrames?: number;
  /**
   * Text tokens the transcript starts with: words a live stream already made final. The search
   * continues after them, so they are never revised, and the model still hears their audio.
   */
  forcedPrefix?: readonly number[];
  /** seconds into the window where the forced prefix's audio ends: sampled words are timed after it */
  prefixEndS?: number;
  /**
   * The stream's prompt cache (src/engine/prompt-cache.ts): the previous text is fed only when
   * it is not what the cache holds for this window. Not used by beam search.
   */
  promptCache?: PromptCache;
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
  /** log-probability of each of `tokens` when it was chosen (after Whisper's decoding rules) */
  tokenLogprobs: number[];
  text: string;
  sumLogprob: number;
  avgLogprob: number;
  noSpeechProb: number;
  temperature: number;
  compressionRatio: number;
  language: string | null;
  /** window-relative word times when `wordTimestamps` was asked; null otherwise */
  words: AlignedWord[] | null;
}

/** One window's search after the prompt: the root session's cache holds the prompt. */
interface SearchRun {
  root: number;
  /** cache position of the first sampled token */
  position: number;
  /** logits after the prompt */
  first: Float32Array;
  /** alignment-head attention after the prompt; null when words are not timed */
  firstAttention: Float32Array | null;
  filters: LogitFilters;
  search: SearchOptions;
  sampleLen: number;
  /** every session the search creates is added here, to be released by the caller */
  sessions: Set<number>;
  urgency: Urgency;
}

interface Hypothesis {
  session: number;
  tokens: number[];
  logprobs: number[];
  /** per token, the alignment-head attention of the step that chose it (when timing words) */
  attention: Float32Array[];
  sumLogprob: number;
  done: boolean;
}

/** Each hypothesis' alignment-head attention row for its current logits, when words are timed. */
type PendingAttention = (Float32Array | null)[];

function extend(h: Hypothesis, token: number, logprob: number, attention: Float32Array | null, session = h.session): Hypothesis {
  return {
    session,
    tokens: [...h.tokens, token],
    logprobs: [...h.logprobs, logprob],
    attention: attention ? [...h.attention, attention] : h.attention,
    sumLogprob: h.sumLogprob + logprob,
    done: false,
  };
}

export function compressionRatio(text: string): number {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length === 0) return 0;
  return bytes.length / deflateSync(bytes).length;
}

function softmaxAt(logits: Float32Array, token: number): number {
  return Math.exp(logits[token] - logSumExp(logits));
}

/** Tokens of previous text a decode's prompt holds after <|startofprev|>: half the text context, as Whisper was trained. */
export function promptRoom(model: WhisperModel): number {
  return Math.floor(model.info.nTextCtx / 2) - 1;
}

export class WindowDecoder {
  /** logits rows of finished decodes, reused: each decode takes two (concurrent ones take their own) */
  private readonly spareRows: Float32Array[] = [];

  constructor(private readonly model: WhisperModel) {}

  async decode(task: WindowTask, search: SearchOptions): Promise<WindowResult> {
    const { model } = this;
    const { tokenizer } = model;
    const special = tokenizer.special;

    const prefix: number[] = [];
    if (task.previous.length > 0) {
      prefix.push(special.sotPrev, ...task.previous.slice(-promptRoom(model)));
    }
    prefix.push(special.sot);
    const previousPrompt = prefix.slice(0, -1);
    const cache = task.promptCache && previousPrompt.length > 0 && !(search.temperature === 0 && search.beamSize > 1) ? task.promptCache : null;
    let root: number;
    let cached = 0;
    if (cache) {
      ({ session: root, cached } = await cache.take(model, task.window, previousPrompt));
    } else {
      root = model.native.createSession(task.window);
      if (root < 0) throw new Error('KV pool exhausted: no session slot for decoding');
    }
    // Sessions the search creates are released here; the cache keeps its own.
    const sessions = new Set<number>(cache ? [] : [root]);
    // One logits row serves the prompt, the task tokens and then the first hypothesis' steps;
    // another receives the prediction at <|startoftranscript|>. Both go back to the spares.
    const rootRow = this.takeRow();
    const sotRow = this.takeRow();
    try {
      const timeWords = task.wordTimestamps === true;
      if (timeWords && model.info.nAlignmentHeads === 0) throw new Error("word timestamps need the model's alignment heads");
      // Only the prompt's last token predicts the first sampled one, so only its attention is kept.
      // The logits at <|startoftranscript|> give the no-speech probability and the language.
      const promptRest = prefix.slice(cached);
      let language = task.language;
      let prompted: { logits: Float32Array[]; attention: PendingAttention };
      let noSpeechProb: number;
      let taskTokens: number[];
      if (model.multilingual && language === null) {
        // The task tokens name the language that the prompt's prediction detects: two calls.
        prompted = await this.feed([root], [cached], [promptRest], task.urgency, timeWords, [rootRow]);
        noSpeechProb = softmaxAt(rootRow, special.noSpeech);
        language = detectLanguage(rootRow, special.languages);
        taskTokens = this.taskTokens(task, language);
        if (taskTokens.length > 0) {
          prompted = await this.feed([root], [prefix.length], [taskTokens], task.urgency, timeWords, [rootRow]);
        }
      } else {
        // The prompt and the task tokens in one call, the prediction at <|startoftranscript|>
        // as its extra row: one sequential device step fewer per window.
        taskTokens = this.taskTokens(task, language);
        const extra = taskTokens.length > 0 ? { index: promptRest.length - 1, into: sotRow } : null;
        prompted = await this.feed([root], [cached], [[...promptRest, ...taskTokens]], task.urgency, timeWords, [rootRow], extra);
        noSpeechProb = softmaxAt(extra ? sotRow : rootRow, special.noSpeech);
      }
      cache?.filled(previousPrompt);
      const position = prefix.length + taskTokens.length;
      const filters = new LogitFilters(tokenizer, {
        withoutTimestamps: task.withoutTimestamps,
        maxInitialTimestamp: task.maxInitialTimestamp,
        suppressIds: model.config.suppressIds,
        suppressIdsBegin: model.config.suppressIdsBegin,
        suppressBlank: task.suppressBlank,
      });
      const sampleLen = Math.min(task.sampleLen, model.info.nTextCtx - position);
      const run: SearchRun = {
        root,
        position,
        first: prompted.logits[0],
        firstAttention: prompted.attention[0],
        filters,
        search,
        sampleLen,
        sessions,
        urgency: task.urgency,
      };
      const best = search.temperature === 0 && search.beamSize > 1 ? await this.beamSearch(run) : await this.sample(run);
      const kept = best.tokens.flatMap((t, i) => (t === special.eot ? [] : [i]));
      const tokens = kept.map((i) => best.tokens[i]);
      const text = tokenizer.decode(tokens);
      return {
        tokens,
        tokenLogprobs: kept.map((i) => best.logprobs[i]),
        text,
        sumLogprob: best.sumLogprob,
        avgLogprob: best.sumLogprob / (tokens.length + 1),
        noSpeechProb,
        temperature: search.temperature,
        compressionRatio: compressionRatio(text),
        language,
        words: timeWords ? this.alignWords(best, task.contentFrames ?? WINDOW_FRAMES, task.prefixEndS ?? 0) : null,
      };
    } finally {
      this.spareRows.push(rootRow, sotRow);
      await Promise.all([...sessions].map((s) => model.native.releaseSession(s)));
    }
  }

  /** The tokens after <|startoftranscript|>: language and task (multilingual), then the forced prefix. */
  private taskTokens(task: WindowTask, language: string | null): number[] {
    const { model } = this;
    const special = model.tokenizer.special;
    const tokens: number[] = [];
    if (model.multilingual) {
      const langToken = special.languages.get(language ?? 'en');
      if (langToken === undefined) throw new Error(`model does not know language "${language}"`);
      tokens.push(langToken, (task.task === 'translate' ? special.translate : special.transcribe)!);
    }
    if (task.withoutTimestamps) tokens.push(special.noTimestamps);
    if (task.forcedPrefix) tokens.push(...task.forcedPrefix);
    return tokens;
  }

  /** A logits row from the spares (rows outlive no decode), or a new one. */
  private takeRow(): Float32Array {
    return this.spareRows.pop() ?? new Float32Array(this.model.info.nVocab);
  }

  /**
   * One request per session through the device scheduler, which batches them across sessions.
   * Each session's logits land in its own row of `rows` (which filters may then change in
   * place); the rows are reused step after step, so decoding allocates none per token.
   */
  private async feed(
    sessions: number[],
    positions: number[],
    tokens: number[][],
    urgency: Urgency,
    withAttention: boolean,
    rows: readonly Float32Array[],
    extra: ExtraRow | null = null,
  ): Promise<{ logits: Float32Array[]; attention: PendingAttention }> {
    const { scheduler } = this.model;
    // `extra` (one session's feed only) is that session's prediction after an earlier token.
    const extraFor = (i: number) => (i === 0 ? extra : null);
    const outputs = await Promise.all(
      sessions.map(async (session, i) =>
        withAttention
          ? scheduler.decodeWithAttention(session, positions[i], tokens[i], urgency, rows[i], extraFor(i))
          : { logits: await scheduler.decode(session, positions[i], tokens[i], urgency, rows[i], extraFor(i)), attention: null },
      ),
    );
    return { logits: outputs.map((o) => o.logits), attention: outputs.map((o) => o.attention) };
  }

  /**
   * Word times of a finished hypothesis. The rows of its text tokens, plus the row of the token
   * after the last one (a timestamp or end-of-text: where the last word stops), are aligned to
   * the audio frames; timestamp tokens in between carry no speech and are left out.
   */
  private alignWords(best: Hypothesis, contentFrames: number, fromS: number): AlignedWord[] {
    const { tokenizer, info } = this.model;
    const eot = tokenizer.special.eot;
    const text = best.tokens.flatMap((t, i) => (t < eot ? [i] : []));
    if (text.length === 0) return [];
    const rows = text.map((i) => best.attention[i]);
    const after = text[text.length - 1] + 1;
    if (after < best.attention.length) rows.push(best.attention[after]);
    const frames = Math.min(info.nAudioCtx, Math.ceil(contentFrames / 2));
    // A forced prefix's words own the audio before fromS; the sampled ones are read after it.
    const first = Math.min(frames - 1, Math.max(0, Math.floor(fromS / SECONDS_PER_TOKEN_STEP)));
    const matrix = alignmentMatrix(rows, info.nAlignmentHeads, info.nAudioCtx, frames, MEDIAN_FILTER_WIDTH, first);
    const spans = rowSpans(matrix, rows.length, frames - first);
    const peaks = attentionPeaks(matrix, rows.length, frames - first);
    const offset = first * SECONDS_PER_TOKEN_STEP;
    const timed = text.map((i, k) => ({
      id: best.tokens[i],
      text: tokenizer.decode([best.tokens[i]]),
      start: offset + spans[k].start,
      end: offset + spans[k].end,
      probability: Math.exp(best.logprobs[i]),
      peak: offset + peaks[k] * SECONDS_PER_TOKEN_STEP,
    }));
    return mergeWords(timed, (word) => tokenizer.decode(word.map((t) => t.id)));
  }

  /** Greedy (temperature 0) or best-of-N sampling; hypotheses advance together, one batched step each. */
  private async sample(run: SearchRun): Promise<Hypothesis> {
    const { root, position, first, filters, search, sampleLen, sessions } = run;
    const { model } = this;
    const eot = model.tokenizer.special.eot;
    const count = search.temperature > 0 ? Math.max(1, search.bestOf) : 1;
    const fresh = (session: number): Hypothesis => ({ session, tokens: [], logprobs: [], attention: [], sumLogprob: 0, done: false });
    const hyps: Hypothesis[] = [fresh(root)];
    for (let i = 1; i < count; i++) {
      const forked = await model.native.forkSession(root);
      if (forked < 0) break;
      sessions.add(forked);
      hyps.push(fresh(forked));
    }
    // logits[i] is live[i]'s own row, refilled at each step.
    let logits = hyps.map((_, i) => (i === 0 ? first : first.slice()));
    let live = hyps;
    let attention: PendingAttention = hyps.map(() => run.firstAttention);
    for (let step = 0; step < sampleLen && live.length > 0; step++) {
      live.forEach((h, i) => {
        const row = logits[i];
        const norm = filters.apply(row, h.tokens);
        const token = search.temperature > 0 ? sampleToken(row, search.temperature, search.random) : argmax(row);
        const logprob = row[token] - norm;
        h.sumLogprob += logprob;
        h.tokens.push(token);
        h.logprobs.push(logprob);
        if (attention[i]) h.attention.push(attention[i]!);
        if (token === eot) h.done = true;
      });
      const stillLive = live.filter((h) => !h.done);
      if (stillLive.length === 0 || step === sampleLen - 1) break;
      ({ logits, attention } = await this.feed(
        stillLive.map((h) => h.session),
        stillLive.map(() => position + step),
        stillLive.map((h) => [h.tokens[h.tokens.length - 1]]),
        run.urgency,
        run.firstAttention !== null,
        logits.filter((_, i) => !live[i].done),
      ));
      live = stillLive;
    }
    return rank(hyps, search.lengthPenalty, eot);
  }

  private async beamSearch(run: SearchRun): Promise<Hypothesis> {
    const { root, position, first, filters, search, sampleLen, sessions } = run;
    const { model } = this;
    const eot = model.tokenizer.special.eot;
    const beamSize = search.beamSize;
    const maxFinished = Math.max(1, Math.round(beamSize * search.patience));
    let beams: Hypothesis[] = [{ session: root, tokens: [], logprobs: [], attention: [], sumLogprob: 0, done: false }];
    let attention: PendingAttention = [run.firstAttention];
    const finished: Hypothesis[] = [];
    let logits = [first];
    // Every beam's row is read before the next step is fed, so beamSize rows serve them all.
    const rows = [first, ...Array.from({ length: beamSize - 1 }, () => new Float32Array(first.length))];
    for (let step = 0; step < sampleLen; step++) {
      const candidates: { from: number; token: number; logprob: number; score: number }[] = [];
      beams.forEach((beam, i) => {
        const row = logits[i];
        const norm = filters.apply(row, beam.tokens);
        for (const token of topK(row, beamSize + 1)) {
          if (row[token] === -Infinity) continue;
          const logprob = row[token] - norm;
          candidates.push({ from: i, token, logprob, score: beam.sumLogprob + logprob });
        }
      });
      candidates.sort((a, b) => b.score - a.score);
      const chosen: typeof candidates = [];
      const finish = (c: (typeof candidates)[number]) =>
        finished.push({ ...extend(beams[c.from], c.token, c.logprob, attention[c.from], -1), done: true });
      for (const c of candidates) {
        if (c.token === eot) {
          if (finished.length < maxFinished) finish(c);
        } else if (chosen.length < beamSize) {
          chosen.push(c);
        }
        if (chosen.length >= beamSize && finished.length >= maxFinished) break;
      }
      if (finished.length >= maxFinished || chosen.length === 0 || step === sampleLen - 1) {
        if (finished.length === 0) chosen.forEach(finish);
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
        nextBeams.push(extend(parent, c.token, c.logprob, attention[c.from], session));
      }
      beams.forEach((b, i) => {
        if (!usedParents.has(i)) {
          sessions.delete(b.session);
          void model.native.releaseSession(b.session);
        }
      });
      beams = nextBeams;
      ({ logits, attention } = await this.feed(
        beams.map((b) => b.session),
        beams.map(() => position + step),
        beams.map((b) => [b.tokens[b.tokens.length - 1]]),
        run.urgency,
        run.firstAttention !== null,
        rows,
      ));
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
  const max = logits[argmax(logits)];
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
