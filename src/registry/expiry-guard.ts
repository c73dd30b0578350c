import { MikroORM } from '@mikro-orm/core';
import { EntityManager } from '@mikro-orm/knex';
import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { Gauge } from 'prom-client';
import { Clock } from '../common/clock';
import { lockSingletonRow } from '../database/lock-singleton-row';
import { APP_CONFIG, AppConfig } from '../config/app-config';

/** The gauge that says whether the guard holds this replica's cleanup (GET /metrics). */
export const EXPIRY_GUARD_ENGAGED = 'agent_registry_expiry_guard_engaged';
export const EXPIRY_GUARD_ENGAGED_HELP =
  '1 while the mass-expiry guard is engaged (cleanup deletes no agent), as this replica last read it; 0 otherwise.';

/** How far back "the agents alive a minute earlier" looks. */
export const GUARD_WINDOW_MS = 60_000;

/** Whether the guard holds the cleanup, since when, and why. */
export interface ExpiryGuardState {
  engaged: boolean;
  since?: number;
  reason?: string;
}

interface GuardRow {
  since: number | string | null;
  reason: string | null;
  releasedAt: number | string | null;
}

/**
 * The mass-expiry guard. Before each cleanup run deletes, it compares the agents that expired within the last minute
 * with the agents alive a minute earlier. When more than EXPIRY_GUARD_RATIO of them expired, and at least
 * EXPIRY_GUARD_MIN, that is the network or the registry failing, not a fleet dying at once: the guard engages and the
 * cleanup deletes nothing. The records stay, hidden from `GET /agents` as expired (it never claims they are alive),
 * and a heartbeat revives them. The guard releases itself once the agents that were alive before the event have
 * come back (fewer than the ratio still expired), or after EXPIRY_GUARD_MAX_SECONDS; an admin can release it at once
 * (`POST /admin/expiry-guard/release`). Agents that expired before a release do not engage it again.
 *
 * Its state is one row in the database, so every replica holds and releases together, and it survives restarts.
 */
@Injectable()
export class ExpiryGuard implements OnApplicationBootstrap {
  private readonly logger = new Logger('ExpiryGuard');

  constructor(
    private readonly orm: MikroORM,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectMetric(EXPIRY_GUARD_ENGAGED) private readonly engagedGauge: Gauge,
  ) {}

  /** The gauge starts from the stored state (another replica may hold the guard), then follows every decision. */
  async onApplicationBootstrap(): Promise<void> {
    await this.state().catch(() => undefined);
  }

  /** Decides whether this cleanup run may delete; engages or releases the guard as the counts say. */
  async allowsCleanup(): Promise<boolean> {
    const allowed = await this.decide();
    this.engagedGauge.set(allowed ? 0 : 1);
    return allowed;
  }

  private decide(): Promise<boolean> {
    const { ratio, min, maxMs } = this.config.expiryGuard;
    return (this.orm.em.fork() as EntityManager).transactional(async (tx) => {
      const row = await this.lockRow(tx);
      const now = this.clock.now().getTime();
      const since = row.since === null ? undefined : Number(row.since);
      if (since !== undefined) {
        if (now - since >= maxMs) {
          await this.release(tx, now, `it has held for EXPIRY_GUARD_MAX_SECONDS (${maxMs / 1000} s)`);
          return true;
        }
        const { expired, alive } = await this.counts(tx, since - GUARD_WINDOW_MS, now, 0);
        if (!tooMany(expired, alive, ratio, min)) {
          await this.release(tx, now, `the agents came back: ${expired} of ${alive} still expired`);
          return true;
        }
        return false;
      }
      const from = Math.max(now - GUARD_WINDOW_MS, row.releasedAt === null ? 0 : Number(row.releasedAt));
      const { expired, alive } = await this.counts(tx, from, now, min);
      if (!tooMany(expired, alive, ratio, min)) return true;
      const reason =
        `${expired} of the ${alive} agents alive at ${new Date(from).toISOString()} expired by ` +
        `${new Date(now).toISOString()} (more than EXPIRY_GUARD_RATIO ${ratio}): cleanup deletes no agent until they ` +
        'come back, EXPIRY_GUARD_MAX_SECONDS pass, or an admin releases the guard';
      await tx
        .getConnection()
        .execute(
          'update expiry_guard set since = ?, reason = ? where id = 1',
          [now, reason],
          'run',
          tx.getTransactionContext(),
        );
      this.logger.error(`Mass-expiry guard engaged: ${reason}`);
      return false;
    });
  }

  /** The guard as stored (for `/health`). */
  async state(): Promise<ExpiryGuardState> {
    const rows: GuardRow[] = await (this.orm.em.fork() as EntityManager)
      .getConnection()
      .execute('select since, reason, released_at as "releasedAt" from expiry_guard where id = 1');
    const row = rows[0];
    const state: ExpiryGuardState =
      row === undefined || row.since === null
        ? { engaged: false }
        : { engaged: true, since: Number(row.since), reason: row.reason ?? undefined };
    this.engagedGauge.set(state.engaged ? 1 : 0);
    return state;
  }

  /** An admin's release: the next cleanup run deletes the agents that expired, and they do not engage it again. */
  async releaseNow(keyName: string | undefined): Promise<ExpiryGuardState> {
    await (this.orm.em.fork() as EntityManager).transactional(async (tx) => {
      const row = await this.lockRow(tx);
      if (row.since !== null) {
        await this.release(tx, this.clock.now().getTime(), `released by ${keyName ?? 'a local client'}`);
      }
    });
    this.engagedGauge.set(0);
    return { engaged: false };
  }

  private lockRow(tx: EntityManager): Promise<GuardRow> {
    return lockSingletonRow<GuardRow>(tx, 'expiry_guard', 'since', 'since, reason, released_at as "releasedAt"');
  }

  private async release(tx: EntityManager, now: number, why: string): Promise<void> {
    await tx
      .getConnection()
      .execute(
        'update expiry_guard set since = null, reason = null, released_at = ? where id = 1',
        [now],
        'run',
        tx.getTransactionContext(),
      );
    this.logger.warn(`Mass-expiry guard released: ${why}; cleanup deletes expired agents again`);
  }

  /**
   * Of the agents alive at `from`, how many had expired by `now`. The expired ones come from the index on
   * expires_at; all of them are counted only when at least `atLeast` expired (a full count reads every live agent).
   */
  private async counts(
    tx: EntityManager,
    from: number,
    now: number,
    atLeast: number,
  ): Promise<{ expired: number; alive: number }> {
    const connection = tx.getConnection();
    const context: unknown = tx.getTransactionContext();
    const [expired] = await connection.execute<{ n: number | string }[]>(
      'select count(*) as n from agent_record where expires_at > ? and expires_at <= ? and registered_at <= ?',
      [from, now, from],
      'all',
      context,
    );
    if (Number(expired.n) < atLeast) return { expired: Number(expired.n), alive: 0 };
    const [alive] = await connection.execute<{ n: number | string }[]>(
      'select count(*) as n from agent_record where expires_at > ? and registered_at <= ?',
      [from, from],
      'all',
      context,
    );
    return { expired: Number(expired.n), alive: Number(alive.n) };
  }
}

function tooMany(expired: number, alive: number, ratio: number, min: number): boolean {
  return expired >= min && expired > ratio * alive;
}
