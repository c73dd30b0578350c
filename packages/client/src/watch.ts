import { RegistryError } from './errors.js';
import { readEventStream, revisionOf, StreamMessage } from './event-stream.js';
import { AgentFilter, queryString } from './query.js';
import type { AgentEvent, AgentInfo, RegistryClient } from './registry-client.js';

/** What a watch hands its handler: the whole match (at the start, and after a 410), then each change. */
export type WatchUpdate =
  { type: 'snapshot'; agents: AgentInfo[]; revision: number } | { type: 'event'; event: AgentEvent };

/**
 * `connecting`: until the first list and stream succeed; `active`: following the event stream; `retrying`: listing or
 * reaching the stream failed and the watch retries with backoff; `closed`.
 */
export type WatchState = 'connecting' | 'active' | 'retrying' | 'closed';

export interface WatchOptions {
  /** Longest wait before reconnecting after a dropped stream (default 5 s; the first retry is quick). */
  maxBackoffMs?: number;
  /** Every error along the way (a dropped stream, a failed list), retries included; the watch carries on. */
  onError?: (error: unknown) => void;
  /**
   * The watch changed state: once when it loses the registry (`retrying`, with the error; `errorSummary(error)` says
   * it in a line), once when it follows the stream again (`active`), however many retries came between. Log this.
   */
  onState?: (state: WatchState, error?: unknown) => void;
  /** Agents per list request of a snapshot (default 1000). */
  pageSize?: number;
}

/**
 * Lists the agents that match, then follows `GET /events` from the list's revision: the handler sees a snapshot
 * (every registered agent that matches, alive or not yet removed: check `is_alive` / `expires_at`), then every change
 * after it, in revision order, none skipped and none repeated. A dropped connection is resumed
 * from the position of the last revision seen; a 410 (events past the registry's retention, or a registry whose log
 * was replaced: restored from a backup, failed over to a replica that lagged) lists again and hands over a fresh
 * snapshot. Runs until `close()`.
 */
export class Watch {
  private readonly abort = new AbortController();
  private lastRevision = 0;
  /** Where the stream resumes: the position (`<revision>.<fingerprint>`) of `lastRevision`. */
  private lastPosition = '0';
  /** The snapshot's agents and the revision of the page each was on, until the watch is past them all. */
  private listed?: { pages: Map<string, number>; through: number };
  private current: WatchState = 'connecting';
  readonly done: Promise<void>;

  constructor(
    private readonly client: RegistryClient,
    private readonly filter: AgentFilter,
    private readonly handler: (update: WatchUpdate) => void | Promise<void>,
    private readonly options: WatchOptions = {},
  ) {
    this.done = this.run();
  }

  /**
   * The revision the watch resumes after: the last the handler has seen, or a later one it had no need to see (its
   * filters passed over it, or its snapshot already held it).
   */
  get revision(): number {
    return this.lastRevision;
  }

  get state(): WatchState {
    return this.current;
  }

  close(): Promise<void> {
    this.abort.abort();
    this.setState('closed');
    return this.done;
  }

  private get closed(): boolean {
    return this.abort.signal.aborted;
  }

  private async run(): Promise<void> {
    let needSnapshot = true;
    let failures = 0;
    while (!this.closed) {
      try {
        if (needSnapshot) {
          // Agents whose lease ran out but which cleanup has not removed are in it too (is_alive: false): a lease
          // running out, or renewed, is not an event, so a view without them would miss one that is renewed.
          const { agents, revision, position, listedAt } = await this.client.listAll({
            ...this.filter,
            include_dead: true,
            limit: this.options.pageSize,
          });
          if (this.closed) return;
          this.lastRevision = revision;
          this.lastPosition = position;
          let through = revision;
          for (const page of listedAt.values()) through = Math.max(through, page);
          this.listed = { pages: listedAt, through };
          await this.handler({ type: 'snapshot', agents, revision });
          needSnapshot = false;
        }
        await this.follow(() => {
          failures = 0;
          this.setState('active');
        });
      } catch (error) {
        if (this.closed) return;
        if (error instanceof RegistryError && error.status === 410) {
          needSnapshot = true;
          continue; // the list that follows is the way back; its own failures back off below
        }
        this.options.onError?.(error);
        failures++;
        this.setState('retrying', error);
      }
      if (this.closed) return;
      const ceiling = Math.min(this.options.maxBackoffMs ?? 5000, 100 * 2 ** failures);
      await sleep(ceiling * (0.5 + 0.5 * Math.random()), this.abort.signal);
    }
  }

  private setState(state: WatchState, error?: unknown): void {
    // After close(), a failure of the request it aborted is not news.
    if (state === this.current || this.current === 'closed') return;
    this.current = state;
    this.options.onState?.(state, error);
  }

  /** One connection to the event stream, until it ends. */
  private async follow(connected: () => void): Promise<void> {
    // The stream runs untimed once it starts, but its answer must start within the client's timeout: fetch can wait
    // forever on a connection the peer accepted and closed at once, and the watch would never retry.
    const connection = new AbortController();
    const close = () => connection.abort(this.abort.signal.reason);
    this.abort.signal.addEventListener('abort', close);
    const timer = setTimeout(
      () => connection.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')),
      this.client.timeoutMs,
    );
    try {
      const response = await this.client.request(
        'GET',
        `/events${queryString({ ...this.filter, since: this.lastPosition })}`,
        undefined,
        { signal: connection.signal, headers: { Accept: 'text/event-stream' } },
      );
      clearTimeout(timer);
      connected();
      // Leaving the loop (a handler that threw) cancels the stream, so the server drops the watcher.
      for await (const message of readEventStream(response.body!)) await this.receive(message);
    } finally {
      clearTimeout(timer);
      this.abort.signal.removeEventListener('abort', close);
    }
  }

  private async receive({ id, data }: StreamMessage): Promise<void> {
    if (!data) {
      // A comment (keepalive), or progress: an `id` alone says the filters passed over the events up to it.
      const revision = id === undefined ? NaN : revisionOf(id);
      if (Number.isSafeInteger(revision) && revision > this.lastRevision) this.advance(revision, id!);
      return;
    }
    const event = JSON.parse(data) as AgentEvent;
    if (event.revision <= this.lastRevision) return;
    if (!this.reflected(event)) await this.handler({ type: 'event', event });
    this.advance(event.revision, id ?? String(event.revision));
  }

  private advance(revision: number, position: string): void {
    this.lastRevision = revision;
    this.lastPosition = position;
  }

  /**
   * Whether the snapshot already holds this change: its agent was listed on a page read at this revision or later
   * (the watch starts from the first page's revision, so the changes made while the later pages were read come
   * again). Once the watch is past the last page's revision, nothing is.
   */
  private reflected(event: AgentEvent): boolean {
    if (this.listed === undefined) return false;
    if (event.revision > this.listed.through) {
      this.listed = undefined;
      return false;
    }
    const page = this.listed.pages.get(event.agent_id);
    return page !== undefined && event.revision <= page;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}
