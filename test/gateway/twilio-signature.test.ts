// Twilio's request signature, checked against Twilio's own helper library.
import twilio from 'twilio';
import { describe, expect, it } from 'vitest';
import { signedUrlCandidates, twilioSignature } from '../../src/gateway/twilio-signature.js';

describe('twilioSignature', () => {
  it('is what Twilio computes for a URL, with and without form parameters', () => {
    const url = 'wss://chorus.example.org/v1/twilio/SECRET';
    expect(twilioSignature('auth-token', url)).toBe(twilio.getExpectedTwilioSignature('auth-token', url, {}));
    const params = { CallSid: 'CA1', From: '+15550100', AccountSid: 'AC1' };
    expect(twilioSignature('auth-token', url, params)).toBe(twilio.getExpectedTwilioSignature('auth-token', url, params));
    expect(twilio.validateRequest('auth-token', twilioSignature('auth-token', url), url, {})).toBe(true);
  });
});

describe('signedUrlCandidates', () => {
  it('tries the wss:// URL with and without the default port, whichever the TwiML spelled', () => {
    expect(signedUrlCandidates('chorus.example.org', '/v1/twilio/K')).toEqual([
      'wss://chorus.example.org/v1/twilio/K',
      'wss://chorus.example.org:443/v1/twilio/K',
    ]);
    expect(signedUrlCandidates('chorus.example.org:443', '/v1/twilio/K')).toEqual([
      'wss://chorus.example.org/v1/twilio/K',
      'wss://chorus.example.org:443/v1/twilio/K',
    ]);
    expect(signedUrlCandidates('127.0.0.1:8443', '/v1/twilio/K?x=1')[0]).toBe('wss://127.0.0.1:8443/v1/twilio/K?x=1');
  });
});
