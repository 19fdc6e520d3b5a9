import { unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import {
  encodeServerMessage,
  errorMessage,
  MAX_ECHOED_CLIENT_CHARS,
  metadataMessage,
  plainTranscript,
  plainWord,
  resultsMessage,
  speechStartedMessage,
  utteranceEndMessage,
  type ModelInfo,
  type ResultsInput,
} from '../../src/gateway/protocol-messages.js';
import { ERROR_DISPOSITIONS, ProtocolError, type ErrorCode } from '../../src/gateway/protocol.js';

const model: ModelInfo = { name: 'tiny.en', version: '2022-09-21', arch: 'whisper', uuid: '1a5afae0-6a4d-4b91-8c97-5c9a9d78be5c' };

function resultsInput(overrides: Partial<ResultsInput> = {}): ResultsInput {
  return {
    requestId: 'req-1',
    model,
    channelIndex: 0,
    channelCount: 1,
    start: 1.2,
    duration: 0.8,
    isFinal: true,
    speechFinal: true,
    fromFinalize: false,
    transcript: ' Hello, world.',
    confidence: 0.912345,
    words: [
      { text: 'Hello,', start: 1.2, end: 1.5, confidence: 0.95 },
      { text: 'world.', start: 1.56, end: 2.0, confidence: 0.87 },
    ],
    punctuate: true,
    ...overrides,
  };
}

describe('resultsMessage', () => {
  it('builds the Deepgram Results shape', () => {
    expect(resultsMessage(resultsInput())).toEqual({
      type: 'Results',
      channel_index: [0, 1],
      duration: 0.8,
      start: 1.2,
      is_final: true,
      speech_final: true,
      from_finalize: false,
      channel: {
        alternatives: [
          {
            transcript: 'Hello, world.',
            confidence: 0.9123,
            words: [
              { word: 'hello', start: 1.2, end: 1.5, confidence: 0.95, punctuated_word: 'Hello,' },
              { word: 'world', start: 1.56, end: 2.0, confidence: 0.87, punctuated_word: 'world.' },
            ],
          },
        ],
      },
      metadata: {
        request_id: 'req-1',
        model_info: { name: 'tiny.en', version: '2022-09-21', arch: 'whisper' },
        model_uuid: model.uuid,
      },
    });
  });

  it('rounds times to milliseconds', () => {
    const message = resultsMessage(resultsInput({ start: 1.23456, duration: 0.1 + 0.2 }));
    expect(message.start).toBe(1.235);
    expect(message.duration).toBe(0.3);
  });

  it('renders plain text when punctuate is off', () => {
    const message = resultsMessage(resultsInput({ punctuate: false }));
    const alternative = message.channel.alternatives[0];
    expect(alternative.transcript).toBe('hello world');
    expect(alternative.words.map((w) => w.punctuated_word)).toEqual(['hello', 'world']);
  });

  it('reports the channel of a multichannel stream', () => {
    expect(resultsMessage(resultsInput({ channelIndex: 1, channelCount: 2 })).channel_index).toEqual([1, 2]);
  });

  it('carries interim flags and from_finalize through', () => {
    const interim = resultsMessage(resultsInput({ isFinal: false, speechFinal: false }));
    expect([interim.is_final, interim.speech_final, interim.from_finalize]).toEqual([false, false, false]);
    expect(resultsMessage(resultsInput({ fromFinalize: true })).from_finalize).toBe(true);
  });

  it('adds stability and lag only when given', () => {
    const plain = resultsMessage(resultsInput());
    expect('lag' in plain).toBe(false);
    expect(plain.channel.alternatives[0].words.some((w) => 'stability' in w)).toBe(false);

    const extended = resultsMessage(
      resultsInput({
        isFinal: false,
        lag: 0.41234,
        words: [{ text: 'Hello', start: 0, end: 0.3, confidence: 0.9, stability: 0.66666 }],
      }),
    );
    expect(extended.lag).toBe(0.412);
    expect(extended.channel.alternatives[0].words[0].stability).toBe(0.6667);
  });

  it('sends an empty alternative for a result without words', () => {
    const message = resultsMessage(resultsInput({ transcript: '', words: [], confidence: 0 }));
    expect(message.channel.alternatives).toEqual([{ transcript: '', confidence: 0, words: [] }]);
  });
});

describe('plainWord and plainTranscript', () => {
  it.each([
    ['Hello,', 'hello'],
    ['"Quoted."', 'quoted'],
    ["don't", "don't"],
    ['e-mail?', 'e-mail'],
    ['Ünïcode!', 'ünïcode'],
    ['...', ''],
    ['42', '42'],
  ])('%s -> %s', (text, plain) => {
    expect(plainWord(text)).toBe(plain);
  });

  it('drops words that were only punctuation', () => {
    expect(plainTranscript(' Well - I said: "No!" ')).toBe('well i said no');
  });
});

describe('metadataMessage', () => {
  const base = {
    requestId: 'req-1',
    sha256: 'ab'.repeat(32),
    created: new Date('2025-01-02T03:04:05.678Z'),
    duration: 12.3456,
    channels: 1,
    model,
    extra: {},
    warnings: [],
  };

  it('builds the Deepgram Metadata shape', () => {
    expect(metadataMessage(base)).toEqual({
      type: 'Metadata',
      transaction_key: 'deprecated',
      request_id: 'req-1',
      sha256: 'ab'.repeat(32),
      created: '2025-01-02T03:04:05.678Z',
      duration: 12.346,
      channels: 1,
      models: [model.uuid],
      model_info: { [model.uuid]: { name: 'tiny.en', version: '2022-09-21', arch: 'whisper' } },
    });
  });

  it('echoes extra and lists warnings when there are any', () => {
    const warning = { parameter: 'diarize', type: 'unsupported_parameter' as const, message: 'ignored' };
    const message = metadataMessage({ ...base, extra: { team: 'voice' }, warnings: [warning] });
    expect(message.extra).toEqual({ team: 'voice' });
    expect(message.warnings).toEqual([warning]);
  });
});

describe('event messages', () => {
  it('builds SpeechStarted', () => {
    expect(speechStartedMessage({ channelIndex: 0, channelCount: 1, timestamp: 2.1004 })).toEqual({
      type: 'SpeechStarted',
      channel: [0, 1],
      timestamp: 2.1,
    });
  });

  it('builds UtteranceEnd', () => {
    expect(utteranceEndMessage({ channelIndex: 1, channelCount: 2, lastWordEnd: 2.395 })).toEqual({
      type: 'UtteranceEnd',
      channel: [1, 2],
      last_word_end: 2.395,
    });
  });

  it('builds Error from a ProtocolError in Deepgram\'s shape, with the request id when known', () => {
    const error = new ProtocolError('bad_parameter', 'channels: must be between 1 and 8, got 9');
    expect(errorMessage(error)).toEqual({
      type: 'Error',
      variant: 'BadParameter',
      description: 'channels: must be between 1 and 8, got 9',
      code: 'bad_parameter',
    });
    expect(errorMessage({ code: 'idle_timeout', message: 'no audio for 10 s' }, 'req-1')).toEqual({
      type: 'Error',
      variant: 'IdleTimeout',
      description: 'no audio for 10 s',
      code: 'idle_timeout',
      request_id: 'req-1',
    });
  });

  it('gives every Error the variant and description that Deepgram\'s SDK schemas require', () => {
    // deepgram-sdk (Python) ListenV1Error: type "Error", variant and description required.
    for (const code of Object.keys(ERROR_DISPOSITIONS) as ErrorCode[]) {
      const message = errorMessage({ code, message: 'why' });
      expect(message.variant).toMatch(/^[A-Z][A-Za-z]+$/);
      expect(message.description).toBe('why');
    }
  });

  it('reports client text it cannot parse as a SchemaError that echoes the text, cut to a bound', () => {
    expect(errorMessage({ code: 'malformed_message', message: 'not JSON' }, 'req-1', '{oops')).toEqual({
      type: 'Error',
      variant: 'SchemaError',
      description: 'not JSON',
      message: '{oops',
      code: 'malformed_message',
      request_id: 'req-1',
    });
    const long = `{"type":"Nope","pad":"${'x'.repeat(2 * MAX_ECHOED_CLIENT_CHARS)}"}`;
    const unknown = errorMessage({ code: 'unknown_message_type', message: 'unknown' }, undefined, long);
    expect(unknown.variant).toBe('SchemaError');
    expect(unknown.message).toBe(long.slice(0, MAX_ECHOED_CLIENT_CHARS));
    // Only a SchemaError is about client text.
    expect(errorMessage({ code: 'malformed_audio', message: 'bad' }, undefined, 'text')).not.toHaveProperty('message');
  });
});

describe('encodeServerMessage', () => {
  const message = resultsMessage(resultsInput({ lag: 0.25 }));

  it('encodes JSON as text', () => {
    const encoded = encodeServerMessage(message, 'json');
    expect(typeof encoded).toBe('string');
    expect(JSON.parse(encoded as string)).toEqual(message);
  });

  it('encodes MessagePack as bytes that decode to the same message', () => {
    const encoded = encodeServerMessage(message, 'msgpack');
    expect(encoded).toBeInstanceOf(Uint8Array);
    expect(unpack(encoded as Uint8Array)).toEqual(message);
  });

  it('writes standard MessagePack maps, not msgpackr records', () => {
    const encoded = encodeServerMessage(utteranceEndMessage({ channelIndex: 0, channelCount: 1, lastWordEnd: 1 }), 'msgpack') as Uint8Array;
    // fixmap with 3 entries
    expect(encoded[0]).toBe(0x83);
  });

  it('returns bytes that later encodings do not overwrite', () => {
    const first = encodeServerMessage(message, 'msgpack') as Uint8Array;
    const copy = Uint8Array.from(first);
    for (let i = 0; i < 50; i++) encodeServerMessage(resultsMessage(resultsInput({ start: i })), 'msgpack');
    expect(Uint8Array.from(first)).toEqual(copy);
  });
});
