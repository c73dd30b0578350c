import { MikroORM } from '@mikro-orm/core';
import { EntityManager } from '@mikro-orm/knex';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { Counter, Gauge, Histogram } from 'prom-client';
import { APP_CONFIG } from '../config/environment';
import { dialectOf } from '../database/dialect';
import { EventsSection } from './events.config';
import { RepeatingTask } from '../common/repeating-task';
import { AgentFilter } from '../registry/discovery';
import { REGISTRY_COMMITTED } from '../registry/registry-events';
import { eventAt, eventsAfter, pruneEvents, revisionState, StoredEvent } from '../registry/persistence/event-log';
import { DropReason, EndReason, WATCH_DROPPED, WATCH_DURATION, WATCH_SUBSCRIBERS } from './events.metrics';
import { Watcher, WatchSink } from './watcher';

/**
 * Events the feed keeps in memory, so watchers that are a little behind catch up without a query. Each may hold two
 * agents with 64 KiB cards, so the count stays small; older ones come from the database.
 */
const RECENT_EVENTS = 1000;
/** Longest wait at shutdown for a read of the log in flight. */
const SHUTDOWN_READ_WAIT_MS = 2000;
/** Events one read of the log returns. */
const READ_BATCH = 500;

/**
 * Follows the event log and fans it out to watchers. One reader per replica polls the log (every EVENTS_POLL_MS,
 * and at once after a local write), so every replica's events reach every watcher, in revision order: revisions
 * commit in order (see lockRevision), so reading `revision > head` never skips one that commits later. A watcher
 * that resumes from an older revision first catches up from the log at its own pace, then follows live; one whose
 * client does not keep up is disconnected, never waited for.
 */
@Injectable()
export class ChangeFeed implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(ChangeFeed.name);
  private readonly watchers = new Set<Watcher>();
  private recent: StoredEvent[] = [];
  /** The last revision read from the log; undefined until the first read succeeds. */
  private head?: number;
  /** The fingerprint of the event at `head`, as first read; undefined when the log held none (revision 0). */
  private headFingerprint?: string;
  private failing = false;
  private polling?: RepeatingTask;
  private reading?: Promise<void>;
  private readAgain = false;
  private closed = false;

  constructor(
    private readonly orm: MikroORM,
    @Inject(APP_CONFIG) private readonly config: EventsSection,
    @InjectMetric(WATCH_SUBSCRIBERS) private readonly subscribers: Gauge,
    @InjectMetric(WATCH_DROPPED) private readonly dropped: Counter<'reason'>,
    @InjectMetric(WATCH_DURATION) private readonly durations: Histogram<'reason'>,
  ) {}

  /** Starts following the log. A database not reachable (or not migrated) yet only delays the first read. */
  onApplicationBootstrap(): void {
    this.polling = new RepeatingTask(
      () => this.wake(),
      () => this.config.eventsPollMs,
      true,
    );
    this.polling.start();
    this.wake();
  }

  /**
   * Shutdown, before the server drains: an event stream never ends by itself, so the feed ends them all; and a read
   * of the log in flight finishes while the database is still open (one started on a closing pool would wait out
   * its acquire timeout). A read that cannot finish (the database is already gone) is waited for only briefly.
   */
  async onModuleDestroy(): Promise<void> {
    this.closed = true;
    void this.polling?.stop();
    for (const watcher of this.watchers) this.drop(watcher, 'shutdown', 'the registry is shutting down');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.reading, new Promise((resolve) => (timer = setTimeout(resolve, SHUTDOWN_READ_WAIT_MS)))]);
    clearTimeout(timer);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Watchers connected now. */
  get watcherCount(): number {
    return this.watchers.size;
  }

  /**
   * Deletes the events older than EVENTS_RETENTION (the cleanup job's work); returns how many. `now` is this
   * replica's clock: see pruneEvents for why it is not trusted alone.
   */
  pruneOldEvents(now: number): Promise<number> {
    const dialect = dialectOf(this.orm.config.getDriver());
    return pruneEvents(this.orm.em.fork() as EntityManager, now, this.config.eventsRetentionMs, dialect);
  }

  /** Reads the log now: a local write committed events (the registry says so on the bus). */
  @OnEvent(REGISTRY_COMMITTED)
  wake(): void {
    if (this.closed) return;
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    this.reading = this.readNew()
      .then(() => {
        if (this.failing) this.logger.log('Reading the event log again');
        this.failing = false;
      })
      .catch((error: unknown) => {
        // Once per outage, not once per poll.
        if (!this.failing) {
          this.logger.warn(
            `Reading the event log failed; retrying: ${error instanceof Error ? error.message : String(error)}`,
          );
        }
        this.failing = true;
      })
      .finally(() => {
        this.reading = undefined;
        if (this.readAgain) {
          this.readAgain = false;
          this.wake();
        }
      });
  }

  /**
   * Starts a watcher after `since` (already checked against the retention window). Resolves once it has caught up
   * and follows live, or has been dropped.
   */
  async watch(since: number, filter: AgentFilter, sink: WatchSink): Promise<void> {
    // A request that was checked before shutdown began, and arrives after the feed ended every stream.
    if (this.closed) return sink.end('the registry is shutting down');
    const watcher = new Watcher(filter, sink, since, this.durations.startTimer());
    this.watchers.add(watcher);
    this.subscribers.set(this.watchers.size);
    try {
      await this.catchUp(watcher);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.drop(watcher, 'log_unreadable', `reading the event log failed: ${message}`);
    }
  }

  /** Stops delivering to a watcher whose client went away. */
  unwatch(sink: WatchSink): void {
    for (const watcher of this.watchers) {
      if (watcher.sink === sink) this.remove(watcher, 'client_closed');
    }
  }

  /**
   * Sends a new watcher the events it missed, from memory or from the log, at the pace its client reads them; then
   * makes it live. A watcher is not dropped for being behind while it catches up: it is paced instead.
   */
  private async catchUp(watcher: Watcher): Promise<void> {
    const em = this.orm.em.fork() as EntityManager;
    for (;;) {
      if (watcher.closed) return;
      if (this.head === undefined) {
        this.wake();
        await this.reading;
        if (this.head === undefined) throw new Error('the event log cannot be read');
        continue;
      }
      // From this check to `live = true` nothing awaits, so no event the reader delivers can slip between.
      if (watcher.cursor >= this.head) {
        watcher.live = true;
        return;
      }
      const first = this.recent[0]?.revision;
      let events: StoredEvent[];
      if (first !== undefined && first <= watcher.cursor + 1) {
        // Revisions are gapless, so the missed events start at a known index.
        events = this.recent.slice(watcher.cursor + 1 - first, watcher.cursor + 1 - first + READ_BATCH);
      } else {
        events = await eventsAfter(em, watcher.cursor, READ_BATCH);
        if (events.length === 0 || events[0].revision !== watcher.cursor + 1) {
          // Pruned after the request was checked: the client resumes, and hears 410.
          return this.drop(watcher, 'pruned', `events after revision ${watcher.cursor} were pruned`);
        }
      }
      for (const event of events) {
        if (watcher.closed) return;
        this.deliver(watcher, event, false);
        await watcher.sink.drained();
      }
    }
  }

  /**
   * Gives one event to a watcher. A live watcher whose client is more than EVENTS_CLIENT_BUFFER behind is dropped:
   * false.
   */
  private deliver(watcher: Watcher, event: StoredEvent, live = true): boolean {
    if (watcher.closed) return false;
    if (watcher.offer(event) || !live) return true;
    this.drop(watcher, 'slow_client', `its client fell more than ${this.config.eventsClientBufferBytes} bytes behind`);
    return false;
  }

  /** Ends a watcher's stream from this side; its client resumes from its Last-Event-ID. */
  private drop(watcher: Watcher, reason: DropReason, detail: string): void {
    if (watcher.closed) return;
    this.remove(watcher, reason);
    this.dropped.inc({ reason });
    this.logger.debug(`Watcher disconnected: ${detail}`);
    watcher.sink.end(detail);
  }

  private remove(watcher: Watcher, reason: EndReason): void {
    watcher.closed = true;
    this.watchers.delete(watcher);
    this.subscribers.set(this.watchers.size);
    watcher.ended({ reason });
  }

  /**
   * The log was pruned past the events this replica had read (its reads failed, or stalled, for longer than
   * EVENTS_RETENTION, while other replicas wrote and pruned): the events after `head` up to `through` are gone. A live
   * watcher that still needed them is ended, never handed the events after the gap: its client resumes and hears 410,
   * and lists again. A watcher that started after the gap (its `since` was checked against the log) carries on; one
   * catching up finds the gap in catchUp.
   */
  private skipped(through: number): void {
    this.logger.warn(`The event log skipped from revision ${this.head} to ${through + 1} (pruned)`);
    // The memory is sliced by revision (catchUp): it must hold no gap.
    this.recent = [];
    for (const watcher of this.watchers) {
      if (watcher.live && watcher.cursor < through) {
        this.drop(
          watcher,
          'pruned',
          `events after revision ${watcher.cursor} were pruned before this replica read them`,
        );
      }
    }
  }

  /**
   * The log is not the one this replica read so far: its event at `head` is another, or it is behind `head` (the
   * database was restored from a backup, or failed over to a replica that lagged). The events after `head` would be
   * another history's, so every watcher is ended; its client resumes from its position and hears 410, and lists
   * again. The feed starts over from the log's current revision.
   */
  private replaced(): void {
    this.logger.warn(
      `The event log was replaced (its revision ${this.head} is not the one read before); starting over`,
    );
    this.recent = [];
    this.head = undefined;
    this.headFingerprint = undefined;
    for (const watcher of this.watchers) {
      this.drop(watcher, 'replaced', 'the event log was replaced (a restore, or a failover to a replica that lagged)');
    }
  }

  private async readNew(): Promise<void> {
    const em = this.orm.em.fork() as EntityManager;
    if (this.head === undefined) {
      const { revision } = await revisionState(em);
      this.headFingerprint = revision === 0 ? undefined : (await eventAt(em, revision))?.fingerprint;
      this.head = revision;
    }
    while (!this.closed) {
      const head = this.head;
      // The event at `head` is read again with the new ones: the same event says the log is still the one read.
      const read = await eventsAfter(em, Math.max(head - 1, 0), READ_BATCH + 1);
      let events = read;
      if (head > 0) {
        if (read[0]?.revision === head) {
          if (this.headFingerprint !== undefined && read[0].fingerprint !== this.headFingerprint)
            return this.replaced();
          events = read.slice(1);
        } else if ((await revisionState(em)).revision < head) {
          // Not pruned (the newest event never is): the log went back.
          return this.replaced();
        }
      }
      if (events.length === 0) return;
      if (events[0].revision !== head + 1) this.skipped(events[0].revision - 1);
      const last = events[events.length - 1];
      this.head = last.revision;
      this.headFingerprint = last.fingerprint;
      this.recent.push(...events);
      if (this.recent.length > RECENT_EVENTS) this.recent = this.recent.slice(-RECENT_EVENTS);
      for (const watcher of this.watchers) {
        if (!watcher.live) continue;
        for (const event of events) if (!this.deliver(watcher, event)) break;
      }
      if (events.length < READ_BATCH) return;
    }
  }
}
