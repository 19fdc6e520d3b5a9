// Keyterm prompting (Deepgram's keyterm): the terms lead every decode's prompt, so that the
// model spells a name it hears as the client gave it, and the stream's own text keeps the rest.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAudioFile } from '../../src/audio/load.js';
import { promptRoom } from '../../src/engine/decoder.js';
import { keytermText, promptWithKeyterms } from '../../src/engine/keyterms.js';
import { transcribe } from '../../src/engine/transcribe.js';
import { WhisperModel } from '../../src/engine/whisper.js';
import { fixture } from '../helpers.js';

let model: WhisperModel;

beforeAll(async () => {
  model = await WhisperModel.load('tiny.en', { threads: 2, maxWindows: 1, maxSessions: 5 });
});
afterAll(() => model?.close());

describe('the prompt with keyterms', () => {
  it('reads as a glossary and is nothing without terms', () => {
    expect(keytermText(['Hester Prynne', 'Dimmesdale'])).toBe('Hester Prynne, Dimmesdale.');
    expect(keytermText([])).toBe('');
  });

  it('keeps the terms first and drops the oldest of the stream\'s text to fit the prompt', () => {
    const { tokenizer } = model;
    const history = tokenizer.encode(' ' + 'and so on '.repeat(200).trim());
    const room = promptRoom(model);
    const prompt = promptWithKeyterms(tokenizer, ['Hester Prynne'], history, room);
    const lead = tokenizer.encode(' Hester Prynne.');
    expect(prompt).toHaveLength(room);
    expect(prompt.slice(0, lead.length)).toEqual(lead);
    expect(prompt.slice(lead.length)).toEqual(history.slice(-(room - lead.length)));
    // Without terms, the prompt is the text's last tokens, as before keyterms existed.
    expect(promptWithKeyterms(tokenizer, [], history, room)).toEqual(history.slice(-room));
  });
});

describe('offline transcription with a keyterm', () => {
  it('spells the name as given where tiny.en alone writes what it sounds like', async () => {
    const clip = fixture('1221-135766-0002');
    const { samples } = await loadAudioFile(clip.path);
    expect((await transcribe(model, samples, { language: 'en' })).text).toContain('Hester Prin ');
    const withTerm = await transcribe(model, samples, { language: 'en', keyterms: ['Hester Prynne'] });
    expect(withTerm.text.trim()).toBe('Yet these thoughts affected Hester Prynne less with hope than apprehension.');
  });
});
