import { describe, expect, it } from 'vitest';
import {
  checkAuth,
  DEFAULT_ENDPOINTING_MS,
  ERROR_DISPOSITIONS,
  parseClientMessage,
  parseListenParams,
  ProtocolError,
  resolveModel,
  UTTERANCE_FINALS_ENDPOINTING_MS,
  type ProtocolErrorCode,
} from '../../src/gateway/protocol.js';

function params(query: string) {
  return parseListenParams(new URL(`ws://localhost/v1/listen?${query}`));
}

/** Asserts the call throws a ProtocolError with this code whose message mentions `mention`. */
function expectProtocolError(call: () => unknown, code: ProtocolErrorCode, mention: string): void {
  try {
    call();
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).code).toBe(code);
    expect((err as ProtocolError).message).toContain(mention);
    return;
  }
  throw new Error('expected a ProtocolError');
}

describe('parseListenParams defaults', () => {
  it('fills every default for a minimal raw PCM request', () => {
    expect(params('encoding=linear16&sample_rate=16000')).toEqual({
      encoding: 'linear16',
      sampleRate: 16000,
      channels: 1,
      multichannel: false,
      interimResults: false,
      finals: 'early',
      endpointingMs: DEFAULT_ENDPOINTING_MS,
      utteranceEndMs: null,
      vadEvents: false,
      language: 'en',
      model: null,
      punctuate: true,
      extra: {},
      diarize: false,
      tag: [],
      keyterms: [],
      callback: null,
      callbackMethod: 'POST',
      resultEncoding: 'json',
      interimStability: false,
      reportLag: false,
      token: null,
      warnings: [],
    });
  });

  it('leaves the encoding to container detection when none is given, with channels from the container', () => {
    const parsed = params('');
    expect(parsed.encoding).toBeNull();
    expect(parsed.sampleRate).toBe(48000);
    expect(params('channels=6').channels).toBe(6);
  });

  it('accepts URLSearchParams as well as a URL', () => {
    expect(parseListenParams(new URLSearchParams('encoding=mulaw&sample_rate=8000')).encoding).toBe('mulaw');
  });
});

describe('parseListenParams encoding and sample_rate', () => {
  it.each([
    ['linear16', 'linear16'],
    ['mulaw', 'mulaw'],
    ['alaw', 'alaw'],
    ['opus', 'opus'],
    ['ogg-opus', 'opus'],
    ['ogg_opus', 'opus'],
    ['LINEAR16', 'linear16'],
  ])('reads encoding=%s as %s', (given, expected) => {
    expect(params(`encoding=${given}&sample_rate=16000`).encoding).toBe(expected);
  });

  it.each(['flac', 'amr-nb', 'speex', 'g729', 'linear32', '', 'constructor', 'toString'])('refuses encoding=%s', (given) => {
    expectProtocolError(() => params(`encoding=${given}&sample_rate=16000`), 'bad_parameter', 'encoding');
  });

  it.each(['linear16', 'mulaw', 'alaw'])('requires sample_rate with raw encoding %s', (encoding) => {
    expectProtocolError(() => params(`encoding=${encoding}`), 'bad_parameter', 'sample_rate');
  });

  it('keeps an explicit Opus sample_rate', () => {
    expect(params('encoding=opus&sample_rate=16000').sampleRate).toBe(16000);
  });

  it.each(['7999', '48001', '16000.5', 'abc', '-16000', '16k'])('refuses sample_rate=%s', (rate) => {
    expectProtocolError(() => params(`encoding=linear16&sample_rate=${rate}`), 'bad_parameter', 'sample_rate');
  });

  it.each(['8000', '48000', '44100'])('accepts sample_rate=%s', (rate) => {
    expect(params(`encoding=linear16&sample_rate=${rate}`).sampleRate).toBe(Number(rate));
  });
});

describe('parseListenParams channels', () => {
  it('accepts 1 to 8 channels of PCM', () => {
    expect(params('encoding=linear16&sample_rate=16000&channels=8').channels).toBe(8);
    expect(params('encoding=linear16&sample_rate=16000&channels=2&multichannel=true').multichannel).toBe(true);
  });

  it.each(['0', '9', 'two', '1.5'])('refuses channels=%s', (channels) => {
    expectProtocolError(() => params(`encoding=linear16&sample_rate=16000&channels=${channels}`), 'bad_parameter', 'channels');
  });

  it('refuses more than two Opus channels', () => {
    expectProtocolError(() => params('encoding=opus&channels=3'), 'bad_parameter', 'channels');
  });
});

describe('parseListenParams booleans', () => {
  it.each(['interim_results', 'vad_events', 'multichannel', 'interim_stability'])('parses %s', (name) => {
    const key = {
      interim_results: 'interimResults',
      vad_events: 'vadEvents',
      multichannel: 'multichannel',
      interim_stability: 'interimStability',
    }[name] as 'interimResults';
    expect(params(`${name}=true`)[key]).toBe(true);
    expect(params(`${name}=True`)[key]).toBe(true);
    expect(params(`${name}=false`)[key]).toBe(false);
    expectProtocolError(() => params(`${name}=yes`), 'bad_parameter', name);
  });

  it('parses lag into reportLag', () => {
    expect(params('lag=true').reportLag).toBe(true);
    expectProtocolError(() => params('lag=1'), 'bad_parameter', 'lag');
  });

  it('honours punctuate=false unless smart_format asks for formatting', () => {
    expect(params('punctuate=false').punctuate).toBe(false);
    expect(params('punctuate=false&smart_format=true').punctuate).toBe(true);
    expect(params('smart_format=false').punctuate).toBe(true);
    expectProtocolError(() => params('smart_format=on'), 'bad_parameter', 'smart_format');
  });
});

describe('parseListenParams endpointing and utterance_end_ms', () => {
  it('reads milliseconds, false and true', () => {
    expect(params('endpointing=300').endpointingMs).toBe(300);
    expect(params('endpointing=false').endpointingMs).toBeNull();
    expect(params('endpointing=true').endpointingMs).toBe(DEFAULT_ENDPOINTING_MS);
    expect(params('endpointing=10').endpointingMs).toBe(10);
  });

  it.each(['0', '9', '10001', '300ms', '-5', 'off'])('refuses endpointing=%s', (value) => {
    expectProtocolError(() => params(`endpointing=${value}`), 'bad_parameter', 'endpointing');
  });

  it('reads utterance_end_ms from 1000 ms', () => {
    expect(params('utterance_end_ms=1000').utteranceEndMs).toBe(1000);
    expect(params('interim_results=true&utterance_end_ms=2500').utteranceEndMs).toBe(2500);
  });

  it.each(['999', '0', '60001', '1.5', 'false'])('refuses utterance_end_ms=%s', (value) => {
    expectProtocolError(() => params(`utterance_end_ms=${value}`), 'bad_parameter', 'utterance_end_ms');
  });
});

describe('parseListenParams finals', () => {
  it('makes words final early unless the stream or the server asks for utterances', () => {
    expect(params('').finals).toBe('early');
    expect(params('finals=utterance').finals).toBe('utterance');
    expect(params('finals=EARLY').finals).toBe('early');
    expect(parseListenParams(new URL('ws://localhost/v1/listen'), { finals: 'utterance' }).finals).toBe('utterance');
    expect(parseListenParams(new URL('ws://localhost/v1/listen?finals=early'), { finals: 'utterance' }).finals).toBe('early');
  });

  it('waits longer for an endpoint with utterance finals, unless endpointing is given', () => {
    expect(params('finals=utterance').endpointingMs).toBe(UTTERANCE_FINALS_ENDPOINTING_MS);
    expect(params('finals=utterance&endpointing=true').endpointingMs).toBe(UTTERANCE_FINALS_ENDPOINTING_MS);
    expect(params('finals=utterance&endpointing=300').endpointingMs).toBe(300);
    expect(params('finals=utterance&endpointing=false').endpointingMs).toBeNull();
    expect(UTTERANCE_FINALS_ENDPOINTING_MS).toBeGreaterThan(DEFAULT_ENDPOINTING_MS);
  });

  it.each(['sentence', '', 'true'])('refuses finals=%s', (value) => {
    expectProtocolError(() => params(`finals=${value}`), 'bad_parameter', 'finals');
  });
});

describe('parseListenParams language, model and result_encoding', () => {
  it.each([
    ['en', 'en'],
    ['en-US', 'en'],
    ['pt_BR', 'pt'],
    ['DE', 'de'],
    ['haw', 'haw'],
    ['multi', null],
    ['auto', null],
  ])('reads language=%s as %s', (given, expected) => {
    expect(params(`language=${given}`).language).toBe(expected);
  });

  it.each(['english', 'e', '12', 'en-', ''])('refuses language=%s', (given) => {
    expectProtocolError(() => params(`language=${given}`), 'bad_parameter', 'language');
  });

  it('keeps the requested model name for resolution later', () => {
    expect(params('model=nova-3').model).toBe('nova-3');
    expect(params('model=tiny.en').model).toBe('tiny.en');
    expectProtocolError(() => params('model=../etc/passwd'), 'bad_parameter', 'model');
    expectProtocolError(() => params('model='), 'bad_parameter', 'model');
  });

  it('reads result_encoding', () => {
    expect(params('result_encoding=msgpack').resultEncoding).toBe('msgpack');
    expect(params('result_encoding=json').resultEncoding).toBe('json');
    expectProtocolError(() => params('result_encoding=cbor'), 'bad_parameter', 'result_encoding');
  });
});

describe('parseListenParams other parameters', () => {
  it('collects repeated extra pairs, keeping colons in values', () => {
    expect(params('extra=team:voice&extra=url:http://x').extra).toEqual({ team: 'voice', url: 'http://x' });
  });

  it('reads tag (repeatable) and callback, which the sinks and callback delivery use', () => {
    expect(params('tag=queue-7&tag=agent-3').tag).toEqual(['queue-7', 'agent-3']);
    expect(params('callback=http://127.0.0.1:9/hook&callback_method=put')).toMatchObject({ callback: 'http://127.0.0.1:9/hook', callbackMethod: 'PUT' });
    expect(() => params('callback=wss://example.org/x')).toThrow(/^callback: only http and https/);
    expect(() => params('callback=not a url')).toThrow(/^callback: expected an http or https URL/);
    expect(() => params('callback=http://a/&callback_method=get')).toThrow(/^callback_method/);
    expect(() => params('tag=')).toThrow(/^tag:/);
  });

  it('keeps a __proto__ key as plain data', () => {
    const { extra } = params('extra=__proto__:polluted');
    expect(Object.getPrototypeOf(extra)).toBe(Object.prototype);
    expect(Object.keys(extra)).toEqual(['__proto__']);
    expect(JSON.parse(JSON.stringify(extra))).toEqual(JSON.parse('{"__proto__":"polluted"}'));
  });

  it('refuses extra without a key', () => {
    expectProtocolError(() => params('extra=novalue'), 'bad_parameter', 'extra');
    expectProtocolError(() => params('extra=:value'), 'bad_parameter', 'extra');
    expectProtocolError(() => params(`extra=k:${'v'.repeat(2048)}`), 'bad_parameter', 'extra');
  });

  it('reads the token query parameter', () => {
    expect(params('token=abc').token).toBe('abc');
  });

  it('refuses redaction but accepts redact=false', () => {
    expectProtocolError(() => params('redact=pci'), 'bad_parameter', 'redact');
    expect(params('redact=false').warnings).toEqual([]);
  });

  it('refuses a non-repeatable parameter given twice', () => {
    expectProtocolError(() => params('channels=1&channels=2'), 'bad_parameter', 'channels: given more than once');
  });

  it('takes diarize=true only with multichannel, where each channel is a speaker', () => {
    expect(params('encoding=mulaw&sample_rate=8000&channels=2&multichannel=true&diarize=true')).toMatchObject({ diarize: true, warnings: [] });
    expect(params('diarize=true')).toMatchObject({ diarize: false, warnings: [expect.objectContaining({ parameter: 'diarize' })] });
  });

  it('warns about Deepgram features it ignores and parameters it does not know', () => {
    const { warnings } = params('diarize=true&replace=a:b&replace=c:d&frobnicate=1');
    expect(warnings).toEqual([
      { parameter: 'diarize', type: 'unsupported_parameter', message: 'diarize is not supported by Chorus and was ignored' },
      { parameter: 'frobnicate', type: 'unknown_parameter', message: 'frobnicate is not a known parameter and was ignored' },
      { parameter: 'replace', type: 'unsupported_parameter', message: 'replace is not supported by Chorus and was ignored' },
    ]);
  });
});

describe('parseListenParams keyterm and keywords', () => {
  it('collects keyterm (repeatable) and keywords into one list of terms, each once, spaces tidied', () => {
    expect(params('keyterm=Hester%20Prynne&keyterm=%20Dimmesdale&keywords=Chillingworth&keyterm=Dimmesdale')).toMatchObject({
      keyterms: ['Hester Prynne', 'Dimmesdale', 'Chillingworth'],
      warnings: [],
    });
  });

  it("reads a JSON list, as @deepgram/sdk's live client sends an array", () => {
    expect(params(`keyterm=${encodeURIComponent('["Hester Prynne","Pearl"]')}&keyterm=%5Bsic%5D`).keyterms).toEqual(['Hester Prynne', 'Pearl', '[sic]']);
  });

  it('takes keywords boosts as plain terms, with a warning, and refuses a negative boost', () => {
    expect(params('keywords=Prynne:2&keywords=Pearl:1.5')).toMatchObject({
      keyterms: ['Prynne', 'Pearl'],
      warnings: [{ parameter: 'keywords', type: 'unsupported_parameter', message: 'keywords boosts are ignored: every term is prompted alike' }],
    });
    expectProtocolError(() => params('keywords=um:-10'), 'bad_parameter', 'negative boost');
  });

  it('bounds the terms, so that the prompt keeps room for the stream\'s own text', () => {
    expectProtocolError(() => params(Array.from({ length: 51 }, (_, i) => `keyterm=t${i}`).join('&')), 'bad_parameter', 'at most 50 terms');
    expectProtocolError(() => params(`keyterm=${'x'.repeat(65)}`), 'bad_parameter', '1 to 64 characters');
    expectProtocolError(() => params('keyterm=%20'), 'bad_parameter', '1 to 64 characters');
    expectProtocolError(() => params(Array.from({ length: 10 }, (_, i) => `keyterm=${i}${'y'.repeat(45)}`).join('&')), 'bad_parameter', 'at most 400 characters');
  });
});

describe('resolveModel', () => {
  it('uses the server default when nothing was asked for', () => {
    expect(resolveModel(null, ['tiny.en'], 'tiny.en')).toEqual({ model: 'tiny.en', warning: null });
  });

  it('uses a served model by name', () => {
    expect(resolveModel('base', ['tiny.en', 'base'], 'tiny.en')).toEqual({ model: 'base', warning: null });
  });

  it('substitutes the default for a model it does not serve, with a warning', () => {
    expect(resolveModel('nova-3', ['tiny.en'], 'tiny.en')).toEqual({
      model: 'tiny.en',
      warning: { parameter: 'model', type: 'model_substituted', message: 'model "nova-3" is not served here; using "tiny.en"' },
    });
  });
});

describe('checkAuth', () => {
  const keys = new Set(['secret-1', 'secret-2']);
  const noToken = { token: null };

  it('lets everyone in when authentication is disabled', () => {
    expect(checkAuth(noToken, {}, null)).toEqual({ ok: true, subprotocol: null });
  });

  it('accepts Authorization: Token and Bearer in any case', () => {
    expect(checkAuth(noToken, { authorization: 'Token secret-1' }, keys).ok).toBe(true);
    expect(checkAuth(noToken, { authorization: 'token secret-2' }, keys).ok).toBe(true);
    expect(checkAuth(noToken, { authorization: 'Bearer secret-1' }, keys).ok).toBe(true);
  });

  it('accepts the browser subprotocols and selects "token"', () => {
    expect(checkAuth(noToken, { 'sec-websocket-protocol': 'token, secret-2' }, keys)).toEqual({ ok: true, subprotocol: 'token' });
  });

  it('selects "token" even when authentication is disabled, or the browser aborts', () => {
    expect(checkAuth(noToken, { 'sec-websocket-protocol': 'token, anything' }, null)).toEqual({ ok: true, subprotocol: 'token' });
  });

  it('accepts the token query parameter', () => {
    expect(checkAuth({ token: 'secret-1' }, {}, keys).ok).toBe(true);
  });

  it('prefers the Authorization header over a query token', () => {
    const result = checkAuth({ token: 'secret-1' }, { authorization: 'Token wrong' }, keys);
    expect(result.ok).toBe(false);
  });

  it('reports missing credentials', () => {
    const result = checkAuth(noToken, {}, keys);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.code).toBe('missing_credentials');
    const onlyProtocol = checkAuth(noToken, { 'sec-websocket-protocol': 'token' }, keys);
    expect(onlyProtocol).toMatchObject({ ok: false, subprotocol: 'token', error: { code: 'missing_credentials' } });
  });

  it('reports a wrong key and a wrong scheme as invalid', () => {
    expect(checkAuth(noToken, { authorization: 'Token secret-3' }, keys)).toMatchObject({
      ok: false,
      error: { code: 'invalid_credentials' },
    });
    expect(checkAuth({ token: 'secret' }, {}, keys)).toMatchObject({ ok: false, error: { code: 'invalid_credentials' } });
    expect(checkAuth(noToken, { authorization: 'Basic c2VjcmV0LTE=' }, keys)).toMatchObject({
      ok: false,
      error: { code: 'invalid_credentials', message: expect.stringContaining('Token <key>') },
    });
  });

  it('reads the first value of a repeated header', () => {
    expect(checkAuth(noToken, { authorization: ['Token secret-1', 'Token nope'] }, keys).ok).toBe(true);
  });
});

describe('parseClientMessage', () => {
  it('parses the three Deepgram control messages', () => {
    expect(parseClientMessage('{"type":"KeepAlive"}')).toEqual({ type: 'KeepAlive' });
    expect(parseClientMessage('{"type":"CloseStream"}')).toEqual({ type: 'CloseStream' });
    expect(parseClientMessage('{"type":"Finalize"}')).toEqual({ type: 'Finalize', channel: null });
    expect(parseClientMessage('{"type":"Finalize","channel":1}')).toEqual({ type: 'Finalize', channel: 1 });
  });

  it('ignores fields it does not know', () => {
    expect(parseClientMessage('{"type":"KeepAlive","sent_at":123}')).toEqual({ type: 'KeepAlive' });
  });

  it.each(['hello', '', '{"type":', '[]', '"KeepAlive"', 'null', '42', '{}', '{"type":7}'])(
    'refuses %j as malformed',
    (text) => {
      expectProtocolError(() => parseClientMessage(text), 'malformed_message', '');
    },
  );

  it.each(['-1', '1.5', '"0"', 'null'])('refuses Finalize channel %s', (channel) => {
    expectProtocolError(() => parseClientMessage(`{"type":"Finalize","channel":${channel}}`), 'malformed_message', 'channel');
  });

  it('names an unknown type', () => {
    expectProtocolError(() => parseClientMessage('{"type":"Configure"}'), 'unknown_message_type', '"Configure"');
    expectProtocolError(() => parseClientMessage('{"type":"keepalive"}'), 'unknown_message_type', 'KeepAlive');
  });
});

describe('ERROR_DISPOSITIONS', () => {
  it('refuses handshake errors over HTTP and ends live sessions with a close code', () => {
    for (const code of ['bad_parameter', 'missing_credentials', 'invalid_credentials', 'capacity_exceeded'] as const) {
      expect(ERROR_DISPOSITIONS[code].httpStatus).not.toBeNull();
    }
    expect(ERROR_DISPOSITIONS.missing_credentials.httpStatus).toBe(401);
    expect(ERROR_DISPOSITIONS.capacity_exceeded.httpStatus).toBe(429);
    expect(ERROR_DISPOSITIONS.frame_too_large.closeCode).toBe(1009);
    expect(ERROR_DISPOSITIONS.idle_timeout.closeCode).toBe(4000);
    expect(ERROR_DISPOSITIONS.internal_error.closeCode).toBe(1011);
    expect(ERROR_DISPOSITIONS.unknown_message_type).toEqual({ httpStatus: null, closeCode: null });
  });

  it('uses only close codes a server may send', () => {
    for (const { closeCode } of Object.values(ERROR_DISPOSITIONS)) {
      if (closeCode === null) continue;
      // 1004-1006 and 1015 are reserved; 1005/1006 are never sent on the wire; 1013 is IANA's "Try Again Later".
      expect([1001, 1007, 1008, 1009, 1011, 1013].includes(closeCode) || (closeCode >= 4000 && closeCode <= 4999)).toBe(true);
    }
  });
});
