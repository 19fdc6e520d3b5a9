import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Tokenizer } from '../../src/text/tokenizer.js';
import { resolveModelDir } from '../../src/engine/whisper.js';

const tokenizer = Tokenizer.fromModelDir(resolveModelDir('tiny.en'));

/** Texts with the ids OpenAI's own tokenizer gives them, English-only and multilingual. */
const reference = JSON.parse(readFileSync(new URL('../fixtures/tokenizer-reference.json', import.meta.url), 'utf8')) as {
  cases: { text: string; english: number[]; multilingual: number[] }[];
};

function multilingualTokenizer(): Tokenizer | null {
  try {
    return Tokenizer.fromModelDir(resolveModelDir('base'));
  } catch {
    return null;
  }
}

describe('Tokenizer (tiny.en vocabulary)', () => {
  it('finds the special tokens of an English-only model', () => {
    const s = tokenizer.special;
    expect(tokenizer.multilingual).toBe(false);
    expect(s.eot).toBe(50256);
    expect(s.sot).toBe(50257);
    expect(s.noTimestamps).toBe(50362);
    expect(s.timestampBegin).toBe(50363);
    expect(s.languages.size).toBe(0);
    expect(tokenizer.vocabSize).toBe(51864);
  });

  it('encodes text with byte-level BPE and decodes it back exactly', () => {
    for (const text of [' And so my fellow Americans', " don't stop-believing 123", ' naïve café 東京', '  two  spaces']) {
      const ids = tokenizer.encode(text);
      expect(ids.every((t) => t < tokenizer.special.eot)).toBe(true);
      expect(tokenizer.decode(ids)).toBe(text);
    }
  });

  it('merges bytes into whole tokens, not one token per byte', () => {
    expect(tokenizer.encode(' country')).toEqual([1499]);
    expect(tokenizer.encode(' And so')).toEqual([843, 523]);
  });

  it('encodes every reference text to the ids OpenAI\'s tokenizer gives', () => {
    for (const { text, english } of reference.cases) expect(tokenizer.encode(text), JSON.stringify(text)).toEqual(english);
  });

  it('skips special and timestamp tokens when decoding', () => {
    const ids = [tokenizer.special.sot, tokenizer.special.timestampBegin, 843, tokenizer.special.eot];
    expect(tokenizer.decode(ids)).toBe(' And');
    expect(tokenizer.timestampSeconds(tokenizer.special.timestampBegin + 50)).toBeCloseTo(1.0);
  });
});

describe('Tokenizer merge order', () => {
  // 256 byte symbols, then merges in the order their tokens were learned, then the specials.
  const bytes = Array.from({ length: 256 }, (_, b) => String.fromCodePoint(b < 33 ? 256 + b : b));
  const specials = ['<|endoftext|>', '<|startoftranscript|>', '<|startofprev|>', '<|nocaptions|>', '<|notimestamps|>', '<|0.00|>'];
  const space = String.fromCodePoint(256 + 32);

  it('ranks a merge by the id of the token it makes, so no merges list is needed', () => {
    const vocab = [...bytes, `${space}t`, 'he', `${space}the`, 'th', ...specials];
    const tiny = new Tokenizer(vocab);
    // "Ġt" (id 256) is learned before "he" (257): " the" is Ġt + he -> Ġthe, one token.
    expect(tiny.encode(' the')).toEqual([258]);
    // Without a space there is no "Ġt"; "he" outranks "th" (259), so "the" is t + he.
    expect(tiny.encode('the')).toEqual(['t'.codePointAt(0)!, 257]);
  });

  const multilingual = multilingualTokenizer();
  it.skipIf(multilingual === null)('encodes the reference texts as OpenAI\'s multilingual tokenizer does (models/base cached)', () => {
    expect(multilingual!.encode(' the')).toEqual([264]);
    for (const { text, multilingual: ids } of reference.cases) expect(multilingual!.encode(text), JSON.stringify(text)).toEqual(ids);
  });
});
