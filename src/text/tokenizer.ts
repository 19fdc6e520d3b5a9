// Whisper's byte-level BPE (GPT-2's scheme): each token is a string over a 256-symbol
// alphabet that stands for raw bytes. Token ids are line numbers of the model's
// vocabulary.txt, which also lists the special and timestamp tokens.
//
// Merges are ranked by the id of the token they make, as OpenAI's tokenizer (tiktoken) ranks
// them: a vocabulary's ids are its merge order. The merges lists of converted tokenizer.json
// files are not trusted: the multilingual one lacks the first merge ("Ġ t"), which made
// " the" two tokens (" ", "the") and every prompt and forced prefix of a multilingual model
// text it was never trained on.
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const PRETOKENIZE = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** GPT-2's reversible map from bytes to printable code points. */
function byteAlphabet(): { toChar: string[]; toByte: Map<string, number> } {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const toChar: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    toChar[b] = String.fromCodePoint(printable.includes(b) ? b : 256 + extra++);
  }
  const toByte = new Map(toChar.map((c, b) => [c, b]));
  return { toChar, toByte };
}

export interface SpecialTokens {
  eot: number;
  sot: number;
  sotPrev: number;
  sotLm: number | null;
  noSpeech: number;
  noTimestamps: number;
  timestampBegin: number;
  transcribe: number | null;
  translate: number | null;
  /** language code -> token id; empty for English-only models */
  languages: Map<string, number>;
}

export class Tokenizer {
  readonly vocab: string[];
  readonly special: SpecialTokens;
  readonly multilingual: boolean;
  private readonly ids: Map<string, number>;
  private readonly bytes = byteAlphabet();
  private readonly utf8 = new TextDecoder('utf-8');
  private readonly bpeCache = new Map<string, number[]>();

  constructor(vocab: string[]) {
    this.vocab = vocab;
    this.ids = new Map(vocab.map((t, i) => [t, i]));
    const id = (name: string): number => {
      const v = this.ids.get(name);
      if (v === undefined) throw new Error(`vocabulary lacks the special token ${name}`);
      return v;
    };
    const optional = (name: string): number | null => this.ids.get(name) ?? null;
    const languages = new Map<string, number>();
    const sot = id('<|startoftranscript|>');
    // English-only vocabularies still list language tokens, but only multilingual models
    // (one token more: 51,865 and up) were trained to condition on them.
    this.multilingual = vocab.length >= 51865;
    // Language tokens sit between <|startoftranscript|> and <|translate|>.
    const translate = optional('<|translate|>');
    if (this.multilingual && translate !== null) {
      for (let t = sot + 1; t < translate; t++) {
        const m = /^<\|([a-z]{2,3}|haw|yue)\|>$/.exec(vocab[t]);
        if (m) languages.set(m[1], t);
      }
    }
    this.special = {
      eot: id('<|endoftext|>'),
      sot,
      sotPrev: id('<|startofprev|>'),
      sotLm: optional('<|startoflm|>'),
      noSpeech: this.ids.get('<|nospeech|>') ?? id('<|nocaptions|>'),
      noTimestamps: id('<|notimestamps|>'),
      timestampBegin: id('<|0.00|>'),
      transcribe: optional('<|transcribe|>'),
      translate,
      languages,
    };
  }

  static fromModelDir(dir: string): Tokenizer {
    const vocabPath = join(dir, 'vocabulary.txt');
    const jsonVocabPath = join(dir, 'vocabulary.json');
    let vocab: string[];
    if (existsSync(vocabPath)) {
      vocab = readFileSync(vocabPath, 'utf8').split('\n');
      if (vocab[vocab.length - 1] === '') vocab.pop();
    } else if (existsSync(jsonVocabPath)) {
      vocab = JSON.parse(readFileSync(jsonVocabPath, 'utf8')) as string[];
    } else {
      throw new Error(`${dir} has no vocabulary.txt or vocabulary.json`);
    }
    return new Tokenizer(vocab);
  }

  get vocabSize(): number {
    return this.vocab.length;
  }

  isTimestamp(token: number): boolean {
    return token >= this.special.timestampBegin;
  }

  isSpecial(token: number): boolean {
    return token >= this.special.eot;
  }

  /** Seconds that a timestamp token stands for. */
  timestampSeconds(token: number): number {
    return (token - this.special.timestampBegin) * 0.02;
  }

  /** Raw bytes of text tokens (special tokens are skipped). */
  tokenBytes(tokens: Iterable<number>): Uint8Array {
    const out: number[] = [];
    for (const t of tokens) {
      if (t >= this.special.eot || t < 0 || t >= this.vocab.length) continue;
      for (const ch of this.vocab[t]) {
        const b = this.bytes.toByte.get(ch);
        if (b !== undefined) out.push(b);
      }
    }
    return Uint8Array.from(out);
  }

  decode(tokens: Iterable<number>): string {
    return this.utf8.decode(this.tokenBytes(tokens));
  }

  encode(text: string): number[] {
    const out: number[] = [];
    for (const piece of text.match(PRETOKENIZE) ?? []) {
      const symbols = Array.from(new TextEncoder().encode(piece), (b) => this.bytes.toChar[b]).join('');
      out.push(...this.bpe(symbols));
    }
    return out;
  }

  private bpe(word: string): number[] {
    const cached = this.bpeCache.get(word);
    if (cached) return cached;
    let parts = Array.from(word);
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < parts.length - 1; i++) {
        const rank = this.ids.get(parts[i] + parts[i + 1]);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = i;
        }
      }
      if (best < 0) break;
      parts = [...parts.slice(0, best), parts[best] + parts[best + 1], ...parts.slice(best + 2)];
    }
    const ids = parts.map((p) => {
      const id = this.ids.get(p);
      if (id === undefined) throw new Error(`BPE produced a symbol outside the vocabulary: ${p}`);
      return id;
    });
    if (this.bpeCache.size < 50_000) this.bpeCache.set(word, ids);
    return ids;
  }
}
