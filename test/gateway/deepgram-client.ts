// The official Deepgram SDK pointed at a Chorus gateway, as a user would point it: every
// Deepgram host replaced by the gateway's URL, and no retries, so a test sees each failure.
import { DeepgramClient } from '@deepgram/sdk';

export function deepgramClientFor(httpUrl: string, apiKey = 'unused'): DeepgramClient {
  return new DeepgramClient({
    apiKey,
    environment: { base: httpUrl, production: httpUrl.replace(/^http/, 'ws'), agent: httpUrl, agentRest: httpUrl },
    maxRetries: 0,
  });
}
