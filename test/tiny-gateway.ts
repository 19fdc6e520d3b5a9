// A real gateway on 127.0.0.1 port 0 over tiny.en: what end-to-end tests stream to.
import { GATEWAY_DEFAULTS, type GatewayConfig } from '../src/gateway/config.js';
import { GatewayServer } from '../src/gateway/server.js';
import type { TranscriptSink } from '../src/gateway/transcript-sink.js';
import { whisperFileTranscriber } from '../src/gateway/transcriptions.js';
import { WhisperSessionFactory, type SessionFactoryOptions } from '../src/stream/session-factory.js';

export interface TinyGateway {
  factory: WhisperSessionFactory;
  server: GatewayServer;
  /** http://127.0.0.1:PORT */
  url: string;
  /** ws://127.0.0.1:PORT */
  wsUrl: string;
  close(): Promise<void>;
}

export async function startTinyGateway(
  engine: Omit<SessionFactoryOptions, 'model' | 'threads'>,
  config: Partial<GatewayConfig> = {},
  /** where every final also goes (`--transcript-sink`); the caller closes it after the gateway */
  sink: TranscriptSink | null = null,
): Promise<TinyGateway> {
  // Shedding for overload is off unless a test asks for it: on a busy test machine a stream can
  // fall seconds behind, and a test of something else must not end in 1013 for it.
  const factory = await WhisperSessionFactory.open({ model: 'tiny.en', threads: 2, overload: null, ...engine });
  const server = new GatewayServer({
    config: { ...GATEWAY_DEFAULTS, apiKeys: null, host: '127.0.0.1', port: 0, ...config },
    log: () => {},
    sink,
  });
  server.attach({ sessions: factory, files: whisperFileTranscriber(factory.model, 'tiny.en'), device: factory });
  const url = await server.start();
  return {
    factory,
    server,
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    close: async () => {
      await server.shutdown();
      factory.close();
    },
  };
}
