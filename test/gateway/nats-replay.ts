// Reading back what the NATS transcript sink stored, as a consumer replaying a call would:
// an ordered consumer on the subject, from the start of the stream.
import { connect, type NatsConnection } from 'nats';
import type { FinalRecord } from '../../src/gateway/transcript-sink.js';

export interface Stored {
  record: FinalRecord;
  subject: string;
  msgId: string | undefined;
  /** The stream's sequence number: the order JetStream stored them in. */
  streamSeq: number;
}

export async function withNats<T>(url: string, use: (nc: NatsConnection) => Promise<T>): Promise<T> {
  const nc = await connect({ servers: url });
  try {
    return await use(nc);
  } finally {
    await nc.close();
  }
}

/** Every message on `subject` (wildcards allowed) in stream `stream`, in stored order. */
export async function replay(url: string, stream: string, subject: string): Promise<Stored[]> {
  return withNats(url, async (nc) => {
    const jsm = await nc.jetstreamManager();
    const total = (await jsm.streams.info(stream)).state.messages;
    if (total === 0) return [];
    const consumer = await nc.jetstream().consumers.get(stream, { filterSubjects: subject });
    const stored: Stored[] = [];
    const messages = await consumer.fetch({ max_messages: 10_000, expires: 2000 });
    for await (const message of messages) {
      stored.push({
        record: message.json<FinalRecord>(),
        subject: message.subject,
        msgId: message.headers?.get('Nats-Msg-Id'),
        streamSeq: message.info.streamSequence,
      });
      if (message.info.pending === 0) break;
    }
    return stored;
  });
}

export async function storedCount(url: string, stream: string): Promise<number> {
  return withNats(url, async (nc) => (await (await nc.jetstreamManager()).streams.info(stream)).state.messages);
}
