import { MikroORM } from '@mikro-orm/core';
import { EntityManager } from '@mikro-orm/knex';
import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { Gauge } from 'prom-client';
import { Clock } from '../common/clock';
import { lockSingletonRow } from '../database/lock-singleton-row';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import type { HeldAgents } from './registry.service';

/** The gauge that says whether the guard holds this replica's cleanup (GET /metrics). */
export const EXPIRY_GUARD_ENGAGED = 'agent_registry_expiry_guard_engaged';
export const EXPIRY_GUARD_ENGAGED_HELP =
  '1 while the mass-expiry guard holds any agents (of one key, or the whole registry) from cleanup, as this replica ' +
  'last read it; 0 otherwise.';

/** How far back the very first check looks (there is no earlier check to count from). */
export const GUARD_WINDOW_MS = 60_000;

/** The group of the agents nobody owns (key names start with a letter or a digit). */
export const UNOWNED = '';

/** What the cleanup keeps: everything, or the agents of the held groups; and the instant the guard judged. */
export interface CleanupHolds extends HeldAgents {
  everything: boolean;
  /** The cleanup deletes only leases that ran out by then: a lease that ran out later was not counted. */
  at: number;
}

/** The guard as stored: its holds, since when, and why. */
export interface ExpiryGuardState {
  engaged: boolean;
  /** The earliest hold. */
  since?: number;
  reason?: string;
  /** The whole registry is held. */
  everything?: boolean;
  /** The keys whose agents are held. */
  keys?: string[];
  /** The agents nobody owns are held. */
  unowned?: boolean;
}

interface GuardRow {
  since: number | string | null;
  reason: string | null;
  releasedAt: number | string | null;
  checkedAt: number | string | null;
  heldFrom: number | string | null;
  heldAlive: number | string | null;
  heldWithout: string | null;
}

interface GroupRow {
  grp: string;
  alive: number | string;
  since: number | string | null;
  reason: string | null;
  releasedAt: number | string | null;
  heldFrom: number | string | null;
  heldAlive: number | string | null;
}

/** One group at a check: its agents alive at the last check, and those of them that lapsed since. */
interface GroupCount {
  grp: string;
  aliveBefore: number;
  lapsed: number;
  aliveNow: number;
}

const GROUP_COLUMNS =
  'grp, alive, since, reason, released_at as "releasedAt", held_from as "heldFrom", held_alive as "heldAlive"';

/**
 * The mass-expiry guard. Before each cleanup run deletes, it counts, for each key's agents (a group; the agents
 * nobody owns form one more), the agents alive at the last completed check (whoever ran it) whose leases ran out
 * since. When more than EXPIRY_GUARD_RATIO of a group's agents ran out, and at least EXPIRY_GUARD_MIN, that is a
 * network or the registry failing, not a fleet dying at once: the group is held, and the cleanup deletes none of its
 * agents while it keeps cleaning the others. One key can so only ever hold its own agents. When the registry as a
 * whole trips the rule, every group that lost more than the ratio is held, however small (the rule per group alone
 * would miss a partition of fleets each under EXPIRY_GUARD_MIN). The whole registry is held when its lapses trip the
 * rule even without its largest contributing group: many fleets cut off at once, which no one key can cause.
 *
 * Held records stay, hidden from `GET /agents` as expired (it never claims they are alive), and a heartbeat revives
 * them. A hold ends once the agents it watches have come back (no longer more than the ratio still expired), after
 * EXPIRY_GUARD_MAX_SECONDS, or when an admin releases it (`POST /admin/expiry-guard/release`, all or one key). Agents
 * that expired before a release do not engage it again.
 *
 * Counting from the last completed check, not over a fixed window, is what makes it hold for any CLEANUP_CRON, any
 * TTL, and after runs that were skipped or failed (a failed check does not move it). The first check ever looks
 * back GUARD_WINDOW_MS. Its state is in the database, so every replica holds and releases together, and it
 * survives restarts.
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

  /** Checks, holding or releasing as the counts say, and answers what this cleanup run must keep. */
  async check(): Promise<CleanupHolds> {
    const holds = await (this.orm.em.fork() as EntityManager).transactional((tx) => this.decide(tx));
    this.engagedGauge.set(holds.everything || holds.unowned || holds.owners.length > 0 ? 1 : 0);
    return holds;
  }

  private async decide(tx: EntityManager): Promise<CleanupHolds> {
    const { ratio, min, maxMs } = this.config.expiryGuard;
    const sql = new Sql(tx);
    const row = await lockSingletonRow<GuardRow>(
      tx,
      'expiry_guard',
      'since',
      'since, reason, released_at as "releasedAt", checked_at as "checkedAt", held_from as "heldFrom", ' +
        'held_alive as "heldAlive", held_without as "heldWithout"',
    );
    const now = this.clock.now().getTime();
    const stored = new Map(
      (await sql.all<GroupRow>(`select ${GROUP_COLUMNS} from expiry_guard_group`)).map((group) => [group.grp, group]),
    );
    const checked = num(row.checkedAt);
    // A replica whose clock is behind the last check's counts nothing new.
    const last = Math.min(now, checked ?? now - GUARD_WINDOW_MS);
    const counts = await this.count(sql, stored, checked === undefined, last, now, num(row.releasedAt) ?? 0);

    // When the registry trips the rule even without the group that lost the most, every group that lost more than
    // the ratio is held, however small: a partition across many small fleets, each below EXPIRY_GUARD_MIN, is still
    // a partition. Without that group: one key's own lapses must not hold another key's fleet whose agent died.
    const rest = withoutLargest(counts);
    const registryTrips = rest !== undefined && tooMany(rest.lapsed, rest.alive, ratio, min);
    const held = new Set<string>();
    for (const group of counts.values()) {
      const hold = stored.get(group.grp);
      const since = num(hold?.since ?? null);
      if (since !== undefined) {
        const heldFrom = num(hold!.heldFrom) ?? since - GUARD_WINDOW_MS;
        const still = await sql.count(
          'coalesce(owner, ?) = ? and registered_at <= ? and expires_at > ? and expires_at <= ?',
          [UNOWNED, group.grp, heldFrom, heldFrom, now],
        );
        // No EXPIRY_GUARD_MIN here: a hold of a small fleet ends when its agents come back, not at the next run.
        const why = releaseReason(now - since, maxMs, still, num(hold!.heldAlive) ?? 0, ratio, 1);
        if (why === undefined) {
          held.add(group.grp);
          continue;
        }
        await this.releaseGroup(sql, group.grp, now);
        this.logger.warn(`Mass-expiry guard released ${groupName(group.grp)}: ${why}`);
      }
      // Lapses since the last check judge the group afresh, even one whose earlier hold just ended.
      if (
        tooMany(group.lapsed, group.aliveBefore, ratio, min) ||
        (registryTrips && tooMany(group.lapsed, group.aliveBefore, ratio, 1))
      ) {
        const reason =
          `${explain(group.lapsed, group.aliveBefore, last, now, ratio)} of ${groupName(group.grp)}` +
          (group.lapsed < min ? `, and ${rest!.lapsed} of the ${rest!.alive} in the rest of the registry` : '') +
          ': cleanup keeps these agents until they come back, EXPIRY_GUARD_MAX_SECONDS pass, or an admin releases them';
        await sql.run(
          'insert into expiry_guard_group (grp, alive, since, reason, held_from, held_alive) values (?, 0, ?, ?, ?, ?) ' +
            'on conflict (grp) do update set since = excluded.since, reason = excluded.reason, ' +
            'held_from = excluded.held_from, held_alive = excluded.held_alive',
          [group.grp, now, reason, last, group.aliveBefore],
        );
        held.add(group.grp);
        this.logger.error(`Mass-expiry guard engaged: ${reason}`);
      }
    }

    const everything = await this.decideRegistry(sql, row, counts, last, now);
    await this.snapshot(sql, counts, Math.max(now, checked ?? now));
    return {
      at: now,
      everything,
      owners: [...held].filter((grp) => grp !== UNOWNED).sort(),
      unowned: held.has(UNOWNED),
    };
  }

  /** The hold of the whole registry: its lapses trip the rule even without its largest contributing group. */
  private async decideRegistry(
    sql: Sql,
    row: GuardRow,
    counts: Map<string, GroupCount>,
    last: number,
    now: number,
  ): Promise<boolean> {
    const { ratio, min, maxMs } = this.config.expiryGuard;
    const since = num(row.since);
    if (since !== undefined) {
      // A hold stored before the guard judged each key: it watches the agents alive a minute before it engaged.
      const heldFrom = num(row.heldFrom) ?? since - GUARD_WINDOW_MS;
      const without = row.heldWithout === null ? '' : ' and coalesce(owner, ?) <> ?';
      const withoutParams = row.heldWithout === null ? [] : [UNOWNED, row.heldWithout];
      const still = await sql.count(`registered_at <= ? and expires_at > ? and expires_at <= ?${without}`, [
        heldFrom,
        heldFrom,
        now,
        ...withoutParams,
      ]);
      const alive =
        num(row.heldAlive) ??
        (await sql.count(`registered_at <= ? and expires_at > ?${without}`, [heldFrom, heldFrom, ...withoutParams]));
      const why = releaseReason(now - since, maxMs, still, alive, ratio, min);
      if (why === undefined) return true;
      await sql.run(
        'update expiry_guard set since = null, reason = null, held_from = null, held_alive = null, held_without = null where id = 1',
      );
      this.logger.warn(`Mass-expiry guard released the whole registry: ${why}; cleanup deletes expired agents again`);
    }
    const rest = withoutLargest(counts);
    if (rest === undefined || !tooMany(rest.lapsed, rest.alive, ratio, min)) return false;
    const { lapsed, alive, largest } = rest;
    const reason =
      `${explain(lapsed, alive, last, now, ratio)}, leaving out ${groupName(largest.grp)} (the largest share): ` +
      'cleanup deletes no agent until they come back, EXPIRY_GUARD_MAX_SECONDS pass, or an admin releases the guard';
    await sql.run(
      'update expiry_guard set since = ?, reason = ?, held_from = ?, held_alive = ?, held_without = ? where id = 1',
      [now, reason, last, alive, largest.grp],
    );
    this.logger.error(`Mass-expiry guard engaged for the whole registry: ${reason}`);
    return true;
  }

  /**
   * Per group: its agents alive at the last check (as that check stored them; the first check ever counts them
   * from the table), those of them whose leases ran out since (since a release, if later), and those alive now.
   */
  private async count(
    sql: Sql,
    stored: Map<string, GroupRow>,
    first: boolean,
    last: number,
    now: number,
    releasedAll: number,
  ): Promise<Map<string, GroupCount>> {
    const from = Math.min(now, Math.max(last, releasedAll));
    const rows = await sql.all<{ grp: string; alive: number | string; lapsed: number | string }>(
      'select coalesce(owner, ?) as grp, sum(case when expires_at > ? then 1 else 0 end) as alive, ' +
        'sum(case when registered_at <= ? and expires_at <= ? then 1 else 0 end) as lapsed ' +
        'from agent_record where expires_at > ? group by coalesce(owner, ?)',
      [UNOWNED, now, last, now, from, UNOWNED],
    );
    const counts = new Map<string, GroupCount>();
    const group = (grp: string) => {
      let count = counts.get(grp);
      if (count === undefined) {
        count = { grp, aliveBefore: first ? 0 : Number(stored.get(grp)?.alive ?? 0), lapsed: 0, aliveNow: 0 };
        counts.set(grp, count);
      }
      return count;
    };
    for (const grp of stored.keys()) group(grp);
    for (const row of rows) {
      const count = group(row.grp);
      count.aliveNow = Number(row.alive);
      count.lapsed = Number(row.lapsed);
    }
    if (first) {
      const before = await sql.all<{ grp: string; n: number | string }>(
        'select coalesce(owner, ?) as grp, count(*) as n from agent_record where expires_at > ? and registered_at <= ? ' +
          'group by coalesce(owner, ?)',
        [UNOWNED, last, last, UNOWNED],
      );
      for (const row of before) group(row.grp).aliveBefore = Number(row.n);
    }
    // A group released since the last check counts only what ran out after its release.
    for (const [grp, row] of stored) {
      const released = num(row.releasedAt);
      if (released !== undefined && released > from && released < now) {
        group(grp).lapsed = await sql.count(
          'coalesce(owner, ?) = ? and registered_at <= ? and expires_at > ? and expires_at <= ?',
          [UNOWNED, grp, last, released, now],
        );
      }
    }
    return counts;
  }

  /** This check completed: the next one counts from `at`, against the agents alive now. */
  private async snapshot(sql: Sql, counts: Map<string, GroupCount>, at: number): Promise<void> {
    await sql.run('update expiry_guard set checked_at = ? where id = 1', [at]);
    await sql.run('update expiry_guard_group set alive = 0');
    for (const group of counts.values()) {
      if (group.aliveNow === 0) continue;
      await sql.run(
        'insert into expiry_guard_group (grp, alive) values (?, ?) on conflict (grp) do update set alive = excluded.alive',
        [group.grp, group.aliveNow],
      );
    }
    await sql.run('delete from expiry_guard_group where alive = 0 and since is null');
  }

  private async releaseGroup(sql: Sql, grp: string, now: number): Promise<void> {
    await sql.run(
      'update expiry_guard_group set since = null, reason = null, held_from = null, held_alive = null, released_at = ? where grp = ?',
      [now, grp],
    );
  }

  /** The guard as stored (for `/health`). */
  async state(): Promise<ExpiryGuardState> {
    const sql = new Sql(this.orm.em.fork() as EntityManager);
    const [row] = await sql.all<{ since: number | string | null; reason: string | null }>(
      'select since, reason from expiry_guard where id = 1',
    );
    const groups = await sql.all<GroupRow>(
      `select ${GROUP_COLUMNS} from expiry_guard_group where since is not null order by grp`,
    );
    const everything = row !== undefined && row.since !== null;
    const holds = [...(everything ? [row] : []), ...groups].sort((a, b) => Number(a.since) - Number(b.since));
    const state: ExpiryGuardState =
      holds.length === 0
        ? { engaged: false }
        : {
            engaged: true,
            since: Number(holds[0].since),
            reason: holds.map((hold) => hold.reason ?? '').join('; '),
            everything,
            keys: groups.map((group) => group.grp).filter((grp) => grp !== UNOWNED),
            unowned: groups.some((group) => group.grp === UNOWNED),
          };
    this.engagedGauge.set(state.engaged ? 1 : 0);
    return state;
  }

  /**
   * An admin's release, of every hold or of one key's: the next cleanup run deletes the agents that expired, and
   * they do not engage the guard again. Answers whether any hold remains.
   */
  async releaseNow(keyName: string | undefined, key?: string): Promise<ExpiryGuardState> {
    const by = `released by ${keyName ?? 'a local client'}`;
    await (this.orm.em.fork() as EntityManager).transactional(async (tx) => {
      const sql = new Sql(tx);
      await lockSingletonRow(tx, 'expiry_guard', 'since', 'since');
      const now = this.clock.now().getTime();
      if (key === undefined) {
        await sql.run(
          'update expiry_guard set since = null, reason = null, held_from = null, held_alive = null, ' +
            'held_without = null, released_at = ? where id = 1',
          [now],
        );
        await sql.run(
          'update expiry_guard_group set since = null, reason = null, held_from = null, held_alive = null, released_at = ?',
          [now],
        );
        this.logger.warn(`Mass-expiry guard ${by}; cleanup deletes expired agents again`);
      } else {
        await this.releaseGroup(sql, key, now);
        this.logger.warn(`Mass-expiry guard: ${groupName(key)} ${by}`);
      }
    });
    const state = await this.state();
    return { engaged: state.engaged };
  }
}

/** The statements of one transaction (or of a fork, outside one). */
class Sql {
  constructor(private readonly em: EntityManager) {}

  all<Row>(sql: string, params: unknown[] = []): Promise<Row[]> {
    return this.em.getConnection().execute<Row[]>(sql, params, 'all', this.em.getTransactionContext());
  }

  async run(sql: string, params: unknown[] = []): Promise<void> {
    await this.em.getConnection().execute(sql, params, 'run', this.em.getTransactionContext());
  }

  async count(where: string, params: unknown[]): Promise<number> {
    const [row] = await this.all<{ n: number | string }>(
      `select count(*) as n from agent_record where ${where}`,
      params,
    );
    return Number(row.n);
  }
}

/** The registry's lapses and agents alive at the last check, without the group that lost the most. */
function withoutLargest(
  counts: Map<string, GroupCount>,
): { lapsed: number; alive: number; largest: GroupCount } | undefined {
  let largest: GroupCount | undefined;
  let lapsed = 0;
  let alive = 0;
  for (const group of counts.values()) {
    lapsed += group.lapsed;
    alive += group.aliveBefore;
    if (largest === undefined || group.lapsed > largest.lapsed) largest = group;
  }
  if (largest === undefined) return undefined;
  return { lapsed: lapsed - largest.lapsed, alive: alive - largest.aliveBefore, largest };
}

function tooMany(expired: number, alive: number, ratio: number, min: number): boolean {
  return expired >= min && expired > ratio * alive;
}

/** Why a hold ends now, or undefined while it holds. */
function releaseReason(
  heldMs: number,
  maxMs: number,
  still: number,
  alive: number,
  ratio: number,
  min: number,
): string | undefined {
  if (heldMs >= maxMs) return `it has held for EXPIRY_GUARD_MAX_SECONDS (${maxMs / 1000} s)`;
  if (!tooMany(still, alive, ratio, min)) return `the agents came back: ${still} of ${alive} still expired`;
  return undefined;
}

function explain(lapsed: number, alive: number, from: number, now: number, ratio: number): string {
  return (
    `${lapsed} of the ${alive} agents alive at ${new Date(from).toISOString()} expired by ` +
    `${new Date(now).toISOString()} (more than EXPIRY_GUARD_RATIO ${ratio})`
  );
}

function groupName(grp: string): string {
  return grp === UNOWNED ? 'the agents no key owns' : `the key ${grp}`;
}

function num(value: number | string | null): number | undefined {
  return value === null ? undefined : Number(value);
}
