/**
 * Twilio's request signature (`X-Twilio-Signature`), which Twilio asks every Media Streams
 * server to check on the WebSocket upgrade: base64 HMAC-SHA1, keyed with the account's Auth
 * Token, of the URL Twilio connected to (for a GET, with nothing after it). A key in the path
 * proves only that the caller has seen the URL, which lands in Twilio's console and in proxy
 * logs; the signature proves the caller holds the Auth Token.
 *
 * The gateway sees the path and the Host header, not the URL the TwiML named: Twilio connects
 * only over `wss://`, and whether that URL spelled the default port is unknown, so both
 * spellings are tried (as Twilio's own helper libraries do). Several tokens are accepted so
 * that an Auth Token can be rotated (Twilio's primary and secondary) without refusing calls.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const TWILIO_SIGNATURE_HEADER = 'x-twilio-signature';

/** The signature Twilio sends for a request to `url` with these form parameters (none for a GET). */
export function twilioSignature(authToken: string, url: string, params: Readonly<Record<string, string>> = {}): string {
  const signed = Object.keys(params)
    .sort()
    .reduce((text, name) => text + name + params[name], url);
  return createHmac('sha1', authToken).update(signed, 'utf8').digest('base64');
}

/** The URLs a Twilio upgrade request may have been signed for. */
export function signedUrlCandidates(host: string, pathAndQuery: string): string[] {
  const bare = host.replace(/:443$/, '');
  return [`wss://${bare}${pathAndQuery}`, `wss://${bare}:443${pathAndQuery}`];
}

/** Whether the upgrade carries a signature one of `authTokens` made for the URL it was sent to. */
export function hasValidTwilioSignature(request: IncomingMessage, authTokens: readonly string[]): boolean {
  const header = request.headers[TWILIO_SIGNATURE_HEADER];
  const host = request.headers.host;
  if (typeof header !== 'string' || header === '' || host === undefined) return false;
  const given = Buffer.from(header, 'utf8');
  return authTokens.some((token) =>
    signedUrlCandidates(host, request.url ?? '/').some((url) => {
      const expected = Buffer.from(twilioSignature(token, url), 'utf8');
      return expected.length === given.length && timingSafeEqual(expected, given);
    }),
  );
}
