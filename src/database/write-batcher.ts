import { Logger } from '@nestjs/common';
import { AsyncResource } from 'node:async_hooks';
import { RetryLaterException } from '../common/retry-later.exception';

/** What a flush makes of one queued write: its result, or the error that belongs to that write alone. */
export type Outcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

export interface WriteBatcherOptions<W, R> {
  /**
   * Writes a batch, in order, in one transaction, and resolves once it has committed, with one outcome per write
   * (same order). Throwing fails every write of the batch: none of them committed.
   */
  flush(writes: W[]): Promise<Outcome<R>[]>;
  /** Most writes one flush takes. */
  maxBatch: number;
  /** Most writes waiting for a flush; beyond it a write is refused at once (503) instead of queued. */
  maxQueue: number;
  /** Most bytes (by `sizeOf`) waiting for a flush: the count alone does not bound memory when writes vary in size. */
  maxQueueBytes: number;
  sizeOf(write: W): number;
  /**
   * Whether a flush's error concerns every write (the database is down, say). Otherwise the batch is retried one
   * write at a time, so only the write that caused the error gets it.
   */
  failsWholeBatch(error: unknown): boolean;
  /** Told the size of every batch taken from the queue (for metrics). */
  onBatch?(size: number): void;
}

/** The answer to a write refused because the queue is full: the client should retry after a moment. */
export class WriterOverloadedException extends RetryLaterException {
  constructor() {
    super('The registry is overloaded; retry shortly.', 1);
  }
}

/** The answer to a write that arrives while the registry shuts down. */
export class WriterClosedException extends RetryLaterException {
  constructor() {
    super('The registry is shutting down; retry shortly.', 1);
  }
}

interface Pending<W, R> {
  write: W;
  size: number;
  resolve(value: R): void;
  reject(error: unknown): void;
}

/**
 * Group commit: writes queue up while a transaction is in flight, and the next transaction takes all of them at
 * once. Each caller is answered only after the transaction holding its write has committed, so an answered write
 * survives a crash. One flush runs at a time; the queue is bounded in writes and bytes, so overload answers 503
 * instead of growing memory without limit. The same mechanism batches lookups of one agent into one query
 * (RegistryService), where a "flush" is a read.
 */
export class WriteBatcher<W, R> {
  private readonly logger = new Logger(WriteBatcher.name);
  /** Flushes run in the batcher's own async context, not in that of the request that happened to start them. */
  private readonly context = new AsyncResource('WriteBatcher');
  private queue: Pending<W, R>[] = [];
  private queuedBytes = 0;
  private flushing?: Promise<void>;
  private flushingCount = 0;
  private closed = false;

  constructor(private readonly options: WriteBatcherOptions<W, R>) {}

  /** Queues a write; resolves with its result once committed, rejects with its own error. */
  submit(write: W): Promise<R> {
    if (this.closed) return Promise.reject(new WriterClosedException());
    const size = this.options.sizeOf(write);
    if (this.queue.length >= this.options.maxQueue || this.queuedBytes + size > this.options.maxQueueBytes) {
      return Promise.reject(new WriterOverloadedException());
    }
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ write, size, resolve, reject });
      this.queuedBytes += size;
      this.flushing ??= this.context.runInAsyncScope(() => this.drain());
    });
  }

  /** Writes waiting for a flush (not counting the batch in flight). */
  get queued(): number {
    return this.queue.length;
  }

  /** Writes in the flush in flight. */
  get inFlight(): number {
    return this.flushingCount;
  }

  /** Refuses new writes, and resolves once everything already queued has been flushed and answered. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flushing;
  }

  /** Flushes batch after batch until the queue is empty. Started by the first write into an idle batcher. */
  private async drain(): Promise<void> {
    try {
      // Let the writes that arrive in this turn of the event loop join the first batch.
      await new Promise<void>((resolve) => setImmediate(resolve));
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.options.maxBatch);
        for (const pending of batch) this.queuedBytes -= pending.size;
        this.flushingCount = batch.length;
        this.options.onBatch?.(batch.length);
        try {
          await this.flushBatch(batch);
        } catch (error) {
          // A bug in a flush (not a database error, which flushBatch hands to the writes): fail the batch, go on.
          this.logger.error('A write batch failed unexpectedly', error instanceof Error ? error.stack : String(error));
          for (const pending of batch) pending.reject(error);
        }
      }
    } finally {
      this.flushingCount = 0;
      this.flushing = undefined;
    }
  }

  private async flushBatch(batch: Pending<W, R>[]): Promise<void> {
    let outcomes: Outcome<R>[];
    try {
      outcomes = await this.options.flush(batch.map((pending) => pending.write));
    } catch (error) {
      if (batch.length === 1 || this.options.failsWholeBatch(error)) {
        for (const pending of batch) pending.reject(error);
      } else {
        await this.flushOneByOne(batch, error);
      }
      return;
    }
    if (outcomes.length !== batch.length) {
      throw new Error(`A flush of ${batch.length} writes gave ${outcomes.length} outcomes`);
    }
    batch.forEach((pending, i) => {
      const outcome = outcomes[i];
      if (outcome.ok) pending.resolve(outcome.value);
      else pending.reject(outcome.error);
    });
  }

  /** Finds the write that broke a batch by retrying each alone; stops at once if the database goes away. */
  private async flushOneByOne(batch: Pending<W, R>[], cause: unknown): Promise<void> {
    this.logger.warn(
      `A batch of ${batch.length} writes failed (${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)}); ` +
        'retrying them one at a time',
    );
    for (const [i, pending] of batch.entries()) {
      try {
        const [outcome] = await this.options.flush([pending.write]);
        if (outcome?.ok) pending.resolve(outcome.value);
        else pending.reject(outcome ? outcome.error : new Error('A flush gave no outcome'));
      } catch (error) {
        pending.reject(error);
        if (this.options.failsWholeBatch(error)) {
          for (const rest of batch.slice(i + 1)) rest.reject(error);
          return;
        }
      }
    }
  }
}
