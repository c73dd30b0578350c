import { MikroORM } from '@mikro-orm/core';
import { EntityManager } from '@mikro-orm/knex';
import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Clock } from '../common/clock';
import { RepeatingTask } from '../common/repeating-task';
import { optionalBigint } from '../database/bigint';
import { dialectOf } from '../database/dialect';
import { retryingConflicts } from '../database/retry-conflicts';
import { APP_CONFIG } from '../config/environment';
import { SchedulerSection } from './scheduler.config';
import { leaseRenewalSql } from '../registry/lease';
import { Gap, LeaseGraceRepository } from './lease-grace.repository';

/** How often each replica notes, in the database, that the registry is serving. */
export const WATERMARK_EVERY_MS = 5000;

/** How often it tries while the database does not answer, so that the leases are extended soon after it does. */
const RETRY_EVERY_MS = 1000;

/**
 * Most leases one restart-grace statement extends. One UPDATE of 300,000 rows ran past PostgreSQL's statement
 * timeout, and held their row locks (and SQLite's one connection) against every heartbeat meanwhile; 2,000 rows
 * took 45 ms on an idle machine and ran past the shortest timeout (100 ms) on a busy one.
 */
export const GRACE_CHUNK = 500;

/** PostgreSQL's SQLSTATE for a statement cancelled by statement_timeout. */
const STATEMENT_TIMEOUT = '57014';

/**
 * Restart grace. Every replica notes in the database, every WATERMARK_EVERY_MS, that the registry is up (the
 * watermark). When it finds the watermark older than RESTART_GRACE_AFTER, no replica could hear heartbeats since
 * then: the registry was stopped, or its database was down. The leases that ran out in that gap ran out because the
 * registry was deaf, not because their agents died; and a lease that runs out within its own ttl after the gap ends
 * would have been carried past it by a heartbeat the outage swallowed (ttl 30 s, a beat every 9 s, down from 28 s to
 * 55 s: the lease of the beat at 27 s ends at 57 s, before the next slot at 63 s). So every lease alive when the gap
 * began that runs out before the gap's end + ttl_seconds is treated as renewed at the gap's end: extended to now +
 * ttl_seconds. A restart or an outage never expires a healthy fleet. An agent that really died meanwhile expires up
 * to one ttl later.
 *
 * It looks at boot (before the app serves anything), every WATERMARK_EVERY_MS (every second while the database does
 * not answer, so that the leases are extended within a second of its return), and at the start of every cleanup
 * run, so the cleanup never removes an agent that expired in a gap before the gap has been forgiven. A replica that
 * restarts while others keep serving finds a recent watermark and extends nothing.
 */
@Injectable()
export class LeaseGrace implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('RestartGrace');
  private readonly expiresAt: string;
  private readonly lockRowsFirst: boolean;
  /** Every WATERMARK_EVERY_MS, or RETRY_EVERY_MS while the database does not answer. */
  private readonly looks = new RepeatingTask(
    () => this.observe(),
    () => (this.failing ? RETRY_EVERY_MS : WATERMARK_EVERY_MS),
  );
  private running?: Promise<number>;
  private failing = false;
  private stopped = false;

  constructor(
    private readonly orm: MikroORM,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: SchedulerSection,
  ) {
    this.lockRowsFirst = dialectOf(orm.config.getDriver()) === 'postgresql';
    this.expiresAt = leaseRenewalSql(this.lockRowsFirst ? 'postgresql' : 'sqlite').expiresAt;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.restartGraceAfterMs === undefined) return;
    await this.observe().catch(() => undefined);
    this.looks.start();
  }

  beforeApplicationShutdown(): Promise<unknown> | undefined {
    this.stopped = true;
    void this.looks.stop();
    return this.running;
  }

  /**
   * Moves the watermark to now, first extending the leases that ran out since it if it is older than
   * RESTART_GRACE_AFTER. Resolves with how many were extended; rejects if the database cannot be reached (and logs
   * that once per outage). One look at a time in this process.
   */
  observe(): Promise<number> {
    if (this.config.restartGraceAfterMs === undefined) return Promise.resolve(0);
    this.running ??= this.look().finally(() => (this.running = undefined));
    return this.running;
  }

  private async look(): Promise<number> {
    try {
      const extended = await this.forgive();
      if (this.failing) this.logger.log('The database answers again; the watermark moves on');
      this.failing = false;
      return extended;
    } catch (error) {
      if (!this.failing) {
        this.logger.warn(
          `Cannot note the watermark (${error instanceof Error ? error.message : String(error)}); leases that run out ` +
            'until the database answers again will be extended then',
        );
      }
      this.failing = true;
      throw error;
    }
  }

  /**
   * Looks at the watermark, holding its row. When it is older than RESTART_GRACE_AFTER, the gap runs from it to now;
   * while leases of the gap (LAPSED) remain, the row is let go and they are extended, GRACE_CHUNK at a time
   * (fewer after a statement timeout: see extendChunk), then the row is looked at again. Only once none remains does
   * the watermark move, so a replica that stops half-way leaves it where it was and the next look, on any replica,
   * finishes the job; and a cleanup, which looks first, never removes an agent of the gap. Replicas extending at once
   * stay correct: each chunk re-checks the lease on the row it extends, and the last look, under the row, sees what
   * the others committed.
   */
  private async forgive(): Promise<number> {
    const graceAfter = this.config.restartGraceAfterMs!;
    const started = performance.now();
    let gap: Gap | undefined;
    let extended = 0;
    let chunk = GRACE_CHUNK;
    let analyzed = false;
    for (;;) {
      const settled = await (this.orm.em.fork() as EntityManager).transactional(async (tx) => {
        const sql = new LeaseGraceRepository(tx);
        // Replicas take turns; SQLite takes its write lock now.
        const row = await sql.lockWatermark();
        const now = this.clock.now().getTime();
        const seenAt = optionalBigint(row.seenAt);
        if (!gap && seenAt !== undefined && now - seenAt > graceAfter) {
          gap = { from: seenAt, to: now };
          this.logger.warn(
            `No replica heard heartbeats for ${Math.round((now - seenAt) / 1000)} s (since ` +
              `${new Date(seenAt).toISOString()}): extending the leases that ran out meanwhile to now + ttl_seconds`,
          );
        }
        if (gap) {
          if (await sql.anyLapsed(gap)) return false;
        }
        if (seenAt === undefined || now > seenAt) {
          await sql.moveWatermark(now);
        }
        return true;
      });
      if (settled) break;
      if (!analyzed && this.lockRowsFirst) analyzed = await this.analyze();
      for (let count = chunk; count === chunk && !this.stopped;) {
        try {
          count = await this.extendChunk(gap!, chunk);
        } catch (error) {
          // A statement timeout on a busy database: smaller chunks from the next look on; every chunk before is kept.
          if ((error as { code?: unknown }).code !== STATEMENT_TIMEOUT || chunk === 1) throw error;
          chunk = Math.ceil(chunk / 2);
          this.logger.warn(`A restart grace chunk ran past the statement timeout; extending ${chunk} at a time`);
          continue;
        }
        extended += count;
        // Heartbeats, and on SQLite every other statement, get their turn between chunks.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      if (this.stopped) throw new Error('shutting down before the restart grace finished; the next start finishes it');
    }
    if (gap) {
      this.logger.warn(
        `Restart grace done: extended ${extended} lease(s) that ran out meanwhile to now + ttl_seconds, in ` +
          `${((performance.now() - started) / 1000).toFixed(1)} s; the watermark moves on`,
      );
    }
    return extended;
  }

  /**
   * PostgreSQL picks each chunk by the table's statistics. Leases inserted since autovacuum last analyzed the table
   * (a fleet registered just before the outage) look like a few rows, and each chunk then read and sorted every lapsed
   * lease, not 500 of them through the index. Analyzing first costs one sample of the table; it may take longer than
   * the statement timeout, which it is spared. A failure only costs the plan.
   */
  private async analyze(): Promise<boolean> {
    await new LeaseGraceRepository(this.orm.em.fork() as EntityManager).analyze().catch(() => undefined);
    return true;
  }

  /**
   * Extends up to `chunk` leases of the gap (LAPSED), in one statement of its own: picked through the expires_at
   * index in its order (`expires_at > ?` bounds the index scan; the per-row ttl bound is a filter on it), on
   * PostgreSQL locked in agent_id order as heartbeat batches lock them (see pickedInOrder), re-checked on the row. A
   * heartbeat that renewed one meanwhile keeps the later lease (leaseRenewalSql). A deadlock or serialization failure
   * is retried. The new lease runs at least to the gap's end + ttl_seconds (from now, or from the gap's end if the
   * clock went back), which LAPSED excludes, so an extended lease is never picked again and the chunks end.
   */
  private async extendChunk(gap: Gap, chunk: number): Promise<number> {
    const from = Math.max(this.clock.now().getTime(), gap.to);
    const rows = await retryingConflicts(this.logger, 'A restart grace chunk', () =>
      new LeaseGraceRepository(this.orm.em as EntityManager).extendChunk(
        gap,
        from,
        chunk,
        this.expiresAt,
        this.lockRowsFirst,
      ),
    );
    return rows.length;
  }
}
