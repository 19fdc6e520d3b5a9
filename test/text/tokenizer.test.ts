import { describe, expect, it } from 'vitest';
import { Tokenizer } from '../../src/text/tokenizer.js';
import { resolveModelDir } from '../../src/engine/whisper.js';

const tokenizer = Tokenizer.fromModelDir(resolveModelDir('tiny.en'));

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

  it('uses the merges, not one token per byte', () => {
    expect(tokenizer.encode(' country')).toEqual([1499]);
    expect(tokenizer.encode(' And so')).toEqual([843, 523]);
  });

  it('skips special and timestamp tokens when decoding', () => {
    const ids = [tokenizer.special.sot, tokenizer.special.timestampBegin, 843, tokenizer.special.eot];
    expect(tokenizer.decode(ids)).toBe(' And');
    expect(tokenizer.timestampSeconds(tokenizer.special.timestampBegin + 50)).toBeCloseTo(1.0);
  });
});
