import { AgentFilter, matchesFilter } from '../registry/discovery';
import { StoredEvent } from '../registry/persistence/event-log';
import { EndReason } from './events.metrics';

/** Where a watcher's events go: the SSE stream of one client. */
export interface WatchSink {
  /** Writes one event; false when the client's buffer is over its bound (the feed then drops the watcher). */
  send(event: StoredEvent, matches: boolean): boolean;
  /** The watcher has passed over `event` without sending it (its filters do not select it). */
  passed(event: StoredEvent): void;
  /** Resolves once the client has taken what was written (catch-up reads no faster than the client does). */
  drained(): Promise<void>;
  /** Ends the stream; the client resumes from its Last-Event-ID. */
  end(reason: string): void;
}

/** One client following the change feed: what it selects, and how far through the log it has got. */
export class Watcher {
  /** The last revision this watcher has been given (or skipped, as not matching its filter). */
  cursor: number;
  live = false;
  closed = false;

  constructor(
    readonly filter: AgentFilter,
    readonly sink: WatchSink,
    since: number,
    /** Observes how long the stream was open, once it ends. */
    readonly ended: (labels: { reason: EndReason }) => void,
  ) {
    this.cursor = since;
  }

  /**
   * Gives one event to the client, if it is new to it and its filter selects the agent; false when the client's
   * buffer is over its bound.
   */
  offer(event: StoredEvent): boolean {
    if (event.revision <= this.cursor) return true;
    this.cursor = event.revision;
    // A watcher sees an agent enter its filter, change in it, and leave it (`matches: false`).
    const matches = event.agent !== undefined && matchesFilter(event.agent, this.filter);
    const matchedBefore = event.previous !== undefined && matchesFilter(event.previous, this.filter);
    if (!matches && !matchedBefore) {
      this.sink.passed(event);
      return true;
    }
    return this.sink.send(event, matches);
  }
}
