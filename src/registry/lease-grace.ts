import { MikroORM } from '@mikro-orm/core';
import { EntityManager } from '@mikro-orm/knex';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Clock } from '../common/clock';
import { lockSingletonRow } from '../database/lock-singleton-row';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { leaseRenewalSql } from './lease';

/** How often each replica notes, in the database, that the registry is serving. */
export const WATERMARK_EVERY_MS = 5000;

/** How often it tries while the database does not answer, so that the leases are extended soon after it does. */
const RETRY_EVERY_MS = 1000;

/**
 * Restart grace. Every replica notes in the database, every WATERMARK_EVERY_MS, that the registry is up (the
 * watermark). When it finds the watermark older than RESTART_GRACE_AFTER, no replica could hear heartbeats since
 * then: the registry was stopped, or its database was down. The leases that ran out in that gap ran out because the
 * registry was deaf, not because their agents died, so they are extended to now + ttl_seconds: a restart or an
 * outage never expires a healthy fleet. An agent that really died meanwhile expires one ttl later.
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
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;
  private failing = false;
  private stopped = false;

  constructor(
    private readonly orm: MikroORM,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.expiresAt = leaseRenewalSql(
      orm.config.getDriver() instanceof PostgreSqlDriver ? 'postgresql' : 'sqlite',
    ).expiresAt;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.restartGraceAfterMs === undefined) return;
    await this.observe().catch(() => undefined);
    this.schedule();
  }

  beforeApplicationShutdown(): Promise<unknown> | undefined {
    this.stopped = true;
    clearTimeout(this.timer);
    return this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(
      () =>
        void this.observe().then(
          () => this.schedule(),
          () => this.schedule(),
        ),
      this.failing ? RETRY_EVERY_MS : WATERMARK_EVERY_MS,
    );
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
    const graceAfter = this.config.restartGraceAfterMs!;
    try {
      const extended = await (this.orm.em.fork() as EntityManager).transactional(async (tx) => {
        const connection = tx.getConnection();
        const context: unknown = tx.getTransactionContext();
        // Replicas take turns; SQLite takes its write lock now.
        const row = await lockSingletonRow<{ seenAt: number | string | null }>(
          tx,
          'registry_watermark',
          'seen_at',
          'seen_at as "seenAt"',
        );
        const now = this.clock.now().getTime();
        const seenAt = row.seenAt === null ? undefined : Number(row.seenAt);
        let count = 0;
        if (seenAt !== undefined && now - seenAt > graceAfter) {
          const rows = await connection.execute<{ agentId: string }[]>(
            `/* restart grace */ update agent_record set expires_at = ${this.expiresAt} ` +
              'where expires_at > ? and expires_at <= ? returning agent_id as "agentId"',
            [now, seenAt, now],
            'all',
            context,
          );
          count = rows.length;
          this.logger.warn(
            `No replica heard heartbeats for ${Math.round((now - seenAt) / 1000)} s (since ` +
              `${new Date(seenAt).toISOString()}): extended ${count} lease(s) that ran out meanwhile to now + ttl_seconds`,
          );
        }
        if (seenAt === undefined || now > seenAt) {
          await connection.execute('update registry_watermark set seen_at = ? where id = 1', [now], 'run', context);
        }
        return count;
      });
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
}
