// Keyterm prompting: the terms a client names (Deepgram's `keyterm`) lead every decode's
// prompt, the text Whisper takes as what was said before, so that it spells those names and
// words as given when it hears them. Whisper's prompt holds half its text context (223 tokens
// after <|startofprev|>); the terms keep their place at its start and the stream's own text
// gets the rest, its oldest tokens dropped first.
import type { Tokenizer } from '../text/tokenizer.js';

/** The prompt sentence for `terms`: a plain comma-separated list, as a glossary reads. */
export function keytermText(terms: readonly string[]): string {
  return terms.length === 0 ? '' : `${terms.join(', ')}.`;
}

/**
 * A decode's previous-text tokens: the keyterms' sentence, then as much of `history` (tokens
 * of the text before, oldest first) as the prompt has room for.
 */
export function promptWithKeyterms(tokenizer: Tokenizer, terms: readonly string[], history: readonly number[], room: number): number[] {
  const lead = terms.length === 0 ? [] : tokenizer.encode(' ' + keytermText(terms));
  const left = Math.max(0, room - lead.length);
  return [...lead.slice(0, room), ...(left > 0 ? history.slice(-left) : [])];
}
