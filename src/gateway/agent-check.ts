/**
 * HAProxy's agent check (configuration manual, "agent-check"): HAProxy opens a TCP connection
 * to this port every `agent-inter`, and the gateway answers one line saying how much weight it
 * wants and whether it takes new sessions (readiness.ts, agentReply), then closes. Anything
 * HAProxy sends first (`agent-send`) is ignored. A line, not HTTP, so it costs no parser and
 * answers as fast as the event loop turns.
 */
import { createServer, type Server, type Socket } from 'node:net';

export class AgentCheckServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly reply: () => string) {
    this.server = createServer((socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      socket.on('error', () => socket.destroy());
      socket.setTimeout(2000, () => socket.destroy());
      socket.end(this.reply());
    });
  }

  /** Resolves with the port it listens on (`port` 0 picks a free one). */
  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const address = this.server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : port);
      });
    });
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
