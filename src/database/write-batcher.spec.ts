import { Logger } from '@nestjs/common';
import { Outcome, WriteBatcher, WriterClosedException, WriterOverloadedException } from './write-batcher';

const ok = <R>(value: R): Outcome<R> => ({ ok: true, value });
const failed = (error: unknown): Outcome<never> => ({ ok: false, error });

/** A flush the test controls: it records each batch and settles when the test says so. */
class ControlledFlush {
  batches: number[][] = [];
  private settle: (() => void)[] = [];
  fail?: (batch: number[]) => Error | undefined;
  outcomeOf: (write: number) => Outcome<string> = (write) => ok(`done ${write}`);

  flush = (writes: number[]): Promise<Outcome<string>[]> => {
    this.batches.push(writes);
    return new Promise((resolve, reject) => {
      this.settle.push(() => {
        const error = this.fail?.(writes);
        if (error !== undefined) reject(error);
        else resolve(writes.map((write) => this.outcomeOf(write)));
      });
    });
  };

  /** Lets the flush in flight commit (or fail), and waits until the batcher has moved on. */
  async commitNext(): Promise<void> {
    while (this.settle.length === 0) await tick();
    this.settle.shift()!();
    await tick();
  }
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('WriteBatcher', () => {
  let flush: ControlledFlush;
  let batcher: WriteBatcher<number, string>;
  let wholeBatchErrors: unknown[];

  beforeEach(() => {
    flush = new ControlledFlush();
    wholeBatchErrors = [];
    batcher = new WriteBatcher<number, string>({
      flush: flush.flush,
      maxBatch: 3,
      maxQueue: 5,
      maxQueueBytes: 1000,
      sizeOf: (write) => (write >= 100 ? write : 1),
      failsWholeBatch: (error) => wholeBatchErrors.includes(error),
    });
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  it('answers each write with its own result, only after its batch committed', async () => {
    let answered = false;
    const first = batcher.submit(1).then((result) => ((answered = true), result));
    await tick();
    expect(flush.batches).toEqual([[1]]);
    expect(answered).toBe(false);

    await flush.commitNext();
    await expect(first).resolves.toBe('done 1');
  });

  it('writes that arrive while a flush is in flight go together into the next one, in order', async () => {
    const first = batcher.submit(1);
    await tick();
    const next = [batcher.submit(2), batcher.submit(3), batcher.submit(4)];
    expect(flush.batches).toEqual([[1]]); // one flush at a time
    expect({ queued: batcher.queued, inFlight: batcher.inFlight }).toEqual({ queued: 3, inFlight: 1 });

    await flush.commitNext();
    expect(flush.batches).toEqual([[1], [2, 3, 4]]);
    await flush.commitNext();
    await expect(first).resolves.toBe('done 1');
    await expect(Promise.all(next)).resolves.toEqual(['done 2', 'done 3', 'done 4']);
  });

  it('takes at most maxBatch writes per flush', async () => {
    const writes = [1, 2, 3, 4, 5].map((write) => batcher.submit(write));
    await flush.commitNext();
    await flush.commitNext();
    await Promise.all(writes);
    expect(flush.batches).toEqual([
      [1, 2, 3],
      [4, 5],
    ]);
  });

  it('reports a write-level error (a 404, say) to that write only', async () => {
    const notFound = new Error('not found: 2');
    flush.outcomeOf = (write) => (write === 2 ? failed(notFound) : ok(`done ${write}`));
    const writes = [1, 2, 3].map((write) => batcher.submit(write).catch((error: unknown) => error));
    await flush.commitNext();
    await expect(Promise.all(writes)).resolves.toEqual(['done 1', notFound, 'done 3']);
  });

  it('an error that concerns the whole batch (the database is down) reaches every write of it', async () => {
    const down = new Error('connect ECONNREFUSED');
    wholeBatchErrors.push(down);
    flush.fail = () => down;
    const writes = [1, 2].map((write) => batcher.submit(write).catch((error: unknown) => error));
    await flush.commitNext();
    await expect(Promise.all(writes)).resolves.toEqual([down, down]);
  });

  it('any other failed batch is retried a write at a time, so only the culprit gets the error', async () => {
    const broken = new Error('write 2 breaks a constraint');
    flush.fail = (batch) => (batch.includes(2) ? broken : undefined);
    const writes = [1, 2, 3].map((write) => batcher.submit(write).catch((error: unknown) => error));
    for (let i = 0; i < 4; i++) await flush.commitNext();
    await expect(Promise.all(writes)).resolves.toEqual(['done 1', broken, 'done 3']);
    expect(flush.batches).toEqual([[1, 2, 3], [1], [2], [3]]);
  });

  it('refuses writes beyond maxQueue at once with 503 and Retry-After, and accepts again once drained', async () => {
    const inFlight = batcher.submit(0);
    await tick();
    const queued = [1, 2, 3, 4, 5].map((write) => batcher.submit(write));
    expect(batcher.queued).toBe(5);

    const refused = batcher.submit(6);
    await expect(refused).rejects.toBeInstanceOf(WriterOverloadedException);
    await expect(refused).rejects.toMatchObject({ retryAfterSeconds: 1, status: 503 });

    for (let i = 0; i < 3; i++) await flush.commitNext();
    await inFlight;
    await Promise.all(queued);
    const again = batcher.submit(7);
    await flush.commitNext();
    await expect(again).resolves.toBe('done 7');
  });

  it('bounds the queue in bytes too: a write that would pass maxQueueBytes is refused', async () => {
    const inFlight = batcher.submit(1);
    await tick();
    const big = batcher.submit(600);
    await expect(batcher.submit(500)).rejects.toBeInstanceOf(WriterOverloadedException); // 600 + 500 > 1000
    const small = batcher.submit(300); // 600 + 300 fits
    for (let i = 0; i < 2; i++) await flush.commitNext();
    await expect(Promise.all([inFlight, big, small])).resolves.toEqual(['done 1', 'done 600', 'done 300']);
  });

  it('stops retrying one by one as soon as the database goes away, failing the rest with that error', async () => {
    const broken = new Error('write 1 breaks a constraint');
    const down = new Error('connect ECONNREFUSED');
    wholeBatchErrors.push(down);
    flush.fail = (batch) => (batch.length > 1 ? broken : batch[0] === 2 ? down : undefined);
    const writes = [1, 2, 3].map((write) => batcher.submit(write).catch((error: unknown) => error));
    for (let i = 0; i < 3; i++) await flush.commitNext();
    await expect(Promise.all(writes)).resolves.toEqual(['done 1', down, down]);
    expect(flush.batches).toEqual([[1, 2, 3], [1], [2]]); // write 3 was not tried against a dead database
  });

  it('survives a broken flush (the wrong number of outcomes): the batch fails, the next one runs', async () => {
    const original = flush.flush;
    let calls = 0;
    const batcherWithBug = new WriteBatcher<number, string>({
      flush: (writes) => (calls++ === 0 ? Promise.resolve([]) : original(writes)),
      maxBatch: 3,
      maxQueue: 5,
      maxQueueBytes: 1000,
      sizeOf: () => 1,
      failsWholeBatch: () => false,
    });
    await expect(batcherWithBug.submit(1)).rejects.toThrow('A flush of 1 writes gave 0 outcomes');
    const next = batcherWithBug.submit(2);
    await flush.commitNext();
    await expect(next).resolves.toBe('done 2');
  });

  it('close() flushes and answers what is queued, then refuses new writes', async () => {
    const inFlight = batcher.submit(1);
    await tick();
    const queued = batcher.submit(2);
    let closed = false;
    const closing = batcher.close().then(() => (closed = true));

    await expect(batcher.submit(3)).rejects.toBeInstanceOf(WriterClosedException);
    await flush.commitNext();
    expect(closed).toBe(false);
    await flush.commitNext();
    await closing;
    await expect(inFlight).resolves.toBe('done 1');
    await expect(queued).resolves.toBe('done 2');
  });

  it('close() on an idle batcher resolves at once', async () => {
    await expect(batcher.close()).resolves.toBeUndefined();
  });
});
