// Deepgram's pre-recorded JSON built from a transcript: words, utterances and paragraphs, with
// no model and no sockets.
import { describe, expect, it } from 'vitest';
import type { Word } from '../../src/stream/stabilizer.js';
import { modelInfoFor } from '../../src/gateway/model-info.js';
import {
  PARAGRAPH_MAX_WORDS,
  paragraphsOf,
  prerecordedResponse,
  utterancesOf,
  type PrerecordedContext,
  type PrerecordedOptions,
} from '../../src/gateway/prerecorded-response.js';
import { TWO_SENTENCES } from './file-fakes.js';

const OPTIONS: PrerecordedOptions = { punctuate: true, utterances: false, uttSplit: 0.8, paragraphs: false, detectLanguage: false };
const CONTEXT: PrerecordedContext = {
  requestId: 'req-1',
  sha256: 'ab'.repeat(32),
  created: new Date('2025-06-01T09:30:00Z'),
  model: modelInfoFor('tiny.en'),
  extra: {},
  warnings: [],
};

function words(spec: Array<[string, number, number]>): Word[] {
  return spec.map(([word, start, end]) => ({ word, start, end, confidence: 0.9 }));
}

describe('prerecordedResponse', () => {
  it('has Deepgram metadata and one channel with one alternative of timed words', () => {
    const response = prerecordedResponse(TWO_SENTENCES, OPTIONS, { ...CONTEXT, extra: { team: 'a' } });
    expect(response.metadata).toEqual({
      transaction_key: 'deprecated',
      request_id: 'req-1',
      sha256: CONTEXT.sha256,
      created: '2025-06-01T09:30:00.000Z',
      duration: 5,
      channels: 1,
      models: [CONTEXT.model.uuid],
      model_info: { [CONTEXT.model.uuid]: { name: 'tiny.en', version: CONTEXT.model.version, arch: 'whisper' } },
      extra: { team: 'a' },
    });
    expect(response.results.channels).toHaveLength(1);
    expect(response.results.channels[0].alternatives).toHaveLength(1);
    const [alternative] = response.results.channels[0].alternatives;
    expect(alternative.transcript).toBe('Hello, world. "Yes!" she said.');
    expect(alternative.confidence).toBe(0.9);
    expect(alternative.words).toEqual([
      { word: 'hello', start: 0.1, end: 0.5, confidence: 0.9, punctuated_word: 'Hello,' },
      { word: 'world', start: 0.6, end: 1, confidence: 0.9, punctuated_word: 'world.' },
      { word: 'yes', start: 2.5, end: 3, confidence: 0.9, punctuated_word: '"Yes!"' },
      { word: 'she', start: 3, end: 3.3, confidence: 0.9, punctuated_word: 'she' },
      { word: 'said', start: 3.3, end: 3.8, confidence: 0.9, punctuated_word: 'said.' },
    ]);
    expect(response.results).not.toHaveProperty('utterances');
    expect(alternative).not.toHaveProperty('paragraphs');
    expect(response.results.channels[0]).not.toHaveProperty('detected_language');
  });

  it('without punctuation, words have no punctuated_word and the transcript is plain', () => {
    const [alternative] = prerecordedResponse(TWO_SENTENCES, { ...OPTIONS, punctuate: false }, CONTEXT).results.channels[0].alternatives;
    expect(alternative.transcript).toBe('hello world yes she said');
    expect(alternative.words[0]).toEqual({ word: 'hello', start: 0.1, end: 0.5, confidence: 0.9 });
  });

  it('names the detected language when asked to detect it', () => {
    const response = prerecordedResponse({ ...TWO_SENTENCES, language: 'de' }, { ...OPTIONS, detectLanguage: true }, CONTEXT);
    expect(response.results.channels[0].detected_language).toBe('de');
  });

  it('times words from segments when the transcript has no aligned words', () => {
    const unaligned = { ...TWO_SENTENCES, segments: TWO_SENTENCES.segments.map(({ words: _words, ...s }) => s) };
    const [alternative] = prerecordedResponse(unaligned, OPTIONS, CONTEXT).results.channels[0].alternatives;
    expect(alternative.words.map((w) => w.word)).toEqual(['hello', 'world', 'yes', 'she', 'said']);
    expect(alternative.words[0].start).toBe(0);
    expect(alternative.words[4].end).toBe(3.8);
  });
});

describe('utterancesOf', () => {
  const spoken = words([
    ['One', 0, 0.4],
    ['two.', 0.5, 0.9],
    ['Three', 1.7, 2.0],
    ['four', 2.0, 2.3],
  ]);

  it('starts an utterance at a pause of utt_split or more', () => {
    const utterances = utterancesOf(spoken, { uttSplit: 0.8, punctuate: true });
    expect(utterances.map((u) => [u.transcript, u.start, u.end])).toEqual([
      ['One two.', 0, 0.9],
      ['Three four', 1.7, 2.3],
    ]);
    expect(utterances[0]).toMatchObject({ channel: 0, confidence: 0.9, id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(utterances[0].words.map((w) => w.punctuated_word)).toEqual(['One', 'two.']);
    expect(utterancesOf(spoken, { uttSplit: 0.81, punctuate: true })).toHaveLength(1);
    expect(utterancesOf(spoken, { uttSplit: 0.1, punctuate: false }).map((u) => u.transcript)).toEqual(['one', 'two', 'three four']);
  });
});

describe('paragraphsOf', () => {
  it('ends sentences at terminal punctuation and paragraphs at a pause of 2 s', () => {
    const { transcript, paragraphs } = paragraphsOf(
      words([
        ['Hi.', 0, 0.5],
        ['How', 1.0, 1.2],
        ['are', 1.2, 1.4],
        ['you?', 1.4, 1.8],
        ['"Fine."', 3.8, 4.2],
        ['Thanks', 4.3, 4.6],
      ]),
    );
    expect(paragraphs).toEqual([
      {
        sentences: [
          { text: 'Hi.', start: 0, end: 0.5 },
          { text: 'How are you?', start: 1.0, end: 1.8 },
        ],
        num_words: 4,
        start: 0,
        end: 1.8,
      },
      {
        sentences: [
          { text: '"Fine."', start: 3.8, end: 4.2 },
          { text: 'Thanks', start: 4.3, end: 4.6 },
        ],
        num_words: 2,
        start: 3.8,
        end: 4.6,
      },
    ]);
    expect(transcript).toBe('\nHi. How are you?\n\n"Fine." Thanks');
  });

  it(`ends a paragraph with the sentence that takes it to ${PARAGRAPH_MAX_WORDS} words`, () => {
    const sentence = (at: number): Array<[string, number, number]> =>
      Array.from({ length: 30 }, (_, i): [string, number, number] => [i === 29 ? 'end.' : 'word', at + i * 0.2, at + i * 0.2 + 0.2]);
    const monologue = words([0, 6, 12, 18, 24].flatMap(sentence));
    const { paragraphs } = paragraphsOf(monologue);
    expect(paragraphs.map((p) => p.num_words)).toEqual([120, 30]);
  });

  it('gives no paragraphs for no words', () => {
    expect(paragraphsOf([])).toEqual({ transcript: '', paragraphs: [] });
  });
});
