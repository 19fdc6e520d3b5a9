/**
 * Runs jobs one at a time, in arrival order, with a bounded wait line. File transcriptions go
 * through one of these so that a burst of uploads cannot crowd the engine that live sessions
 * depend on; a full line is refused at once rather than left to time out.
 */
export class QueueFullError extends Error {
  override readonly name = 'QueueFullError';
}

export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private waitingOrRunning = 0;

  constructor(private readonly maxWaiting: number) {}

  get size(): number {
    return this.waitingOrRunning;
  }

  run<T>(job: () => Promise<T>): Promise<T> {
    if (this.waitingOrRunning > this.maxWaiting) {
      return Promise.reject(new QueueFullError(`${this.waitingOrRunning} jobs are already queued`));
    }
    this.waitingOrRunning++;
    const result = this.tail.then(job).finally(() => this.waitingOrRunning--);
    // The next job waits for this one to settle, whether it succeeded or not.
    this.tail = result.catch(() => undefined);
    return result;
  }
}
