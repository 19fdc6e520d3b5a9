// A text message that is not UTF-8 is told why before the close (issue 18 item 8): ws would
// close 1007 on its own, without the Error message every other refused message gets.
import { afterEach, describe, expect, it } from 'vitest';
import { openListen, PCM_QUERY, startGateway, until, type Harness } from './gateway-harness.js';

let harness: Harness | null = null;
afterEach(async () => {
  await harness?.server.shutdown();
  harness = null;
});

describe('text frames on /v1/listen', () => {
  it('answers invalid UTF-8 with an Error (SchemaError, malformed_message), then closes 1007', async () => {
    harness = await startGateway();
    const client = await openListen(harness, PCM_QUERY);
    await new Promise<void>((resolve, reject) =>
      client.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false }, (error) => (error ? reject(error) : resolve())),
    );
    expect(await client.closed).toEqual({ code: 1007, reason: 'malformed_message' });
    expect(client.messages).toEqual([
      {
        type: 'Error',
        variant: 'SchemaError',
        description: 'a text message must be UTF-8 JSON; this one is not valid UTF-8',
        code: 'malformed_message',
        request_id: expect.any(String),
      },
    ]);
    await until(() => harness!.factory.sessions[0].aborted);
  });

  it('still reads UTF-8 text beyond ASCII', async () => {
    harness = await startGateway();
    const client = await openListen(harness, PCM_QUERY);
    await client.send(JSON.stringify({ type: 'KeepAlive', note: 'café ☕' }));
    await client.send(JSON.stringify({ type: 'CloseStream' }));
    expect(await client.closed).toEqual({ code: 1000, reason: '' });
    expect(client.messages.map((m) => m.type)).toEqual(['Metadata']);
  });
});
