import { MikroORM } from '@mikro-orm/core';
import { EntityManager } from '@mikro-orm/knex';
import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { Gauge } from 'prom-client';
import { Clock } from '../common/clock';
import { APP_CONFIG } from '../config/environment';
import { SchedulerSection } from './scheduler.config';
import { bigintValue, optionalBigint } from '../database/bigint';
import { EXPIRY_GUARD_ENGAGED } from './cleanup.metrics';
import type { HeldAgents } from './expired-agents.repository';
import { cap, explain, GroupCount, groupName, releaseReason, Rest, tooMany } from './expiry-guard.rule';
import { ExpiryGuardRepository, GroupRow, GuardRow, UNOWNED } from './expiry-guard.repository';

export { UNOWNED } from './expiry-guard.repository';

/** How far back the very first check looks (there is no earlier check to count from). */
export const GUARD_WINDOW_MS = 60_000;

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

/**
 * The mass-expiry guard. Before each cleanup run deletes, it counts, for each key's agents (a group; the agents
 * nobody owns form one more), the agents alive at the last completed check (whoever ran it) whose leases ran out
 * since. When more than EXPIRY_GUARD_RATIO of a group's agents ran out, and at least EXPIRY_GUARD_MIN, that is a
 * network or the registry failing, not a fleet dying at once: the group is held, and the cleanup deletes none of its
 * agents while it keeps cleaning the others. One key can so only ever hold its own agents. When the registry's
 * lapses trip the rule even without its largest contributing group (many fleets cut off at once, which no one key
 * can cause), the whole registry is held, and every group that lost more than the ratio, however small (the rule
 * per group alone would miss a partition of fleets each under EXPIRY_GUARD_MIN).
 *
 * "Alive at the last check" is counted at the check, as the table holds them: registered by then, lease running
 * past it. Agents deregistered since are not among them (the rule is then stricter, never looser), and agents
 * revived by a heartbeat since count as alive then. Nothing is stored per check but its instant, so no check reads
 * every live agent: only the lapses, and the agents of the groups with lapses (see count()).
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
    @Inject(APP_CONFIG) private readonly config: SchedulerSection,
    @InjectMetric(EXPIRY_GUARD_ENGAGED) private readonly engagedGauge: Gauge,
  ) {}

  /** The gauge starts from the stored state (another replica may hold the guard), then follows every decision. */
  async onApplicationBootstrap(): Promise<void> {
    await this.state().catch(() => undefined);
  }

  /**
   * Checks, holding or releasing as the counts say, and answers what this cleanup run must keep and the instant it
   * judged. EXPIRY_GUARD_RATIO 1 turns the guard off: nothing is counted or held.
   */
  async check(): Promise<CleanupHolds> {
    if (this.config.expiryGuard.ratio >= 1) {
      this.engagedGauge.set(0);
      return { at: this.clock.now().getTime(), everything: false, owners: [], unowned: false };
    }
    const holds = await (this.orm.em.fork() as EntityManager).transactional((tx) => this.decide(tx));
    this.engagedGauge.set(holds.everything || holds.unowned || holds.owners.length > 0 ? 1 : 0);
    return holds;
  }

  private async decide(tx: EntityManager): Promise<CleanupHolds> {
    const { ratio, min, maxMs } = this.config.expiryGuard;
    const sql = new ExpiryGuardRepository(tx);
    const row = await sql.lock();
    const now = this.clock.now().getTime();
    const stored = new Map((await sql.groups()).map((group) => [group.grp, group]));
    const checked = optionalBigint(row.checkedAt);
    // A replica whose clock is behind the last check's counts nothing new.
    const last = Math.min(now, checked ?? now - GUARD_WINDOW_MS);
    const counts = await this.count(sql, stored, last, now, optionalBigint(row.releasedAt) ?? 0);

    // When the registry trips the rule even without the group that lost the most, every group that lost more than
    // the ratio is held, however small: a partition across many small fleets, each below EXPIRY_GUARD_MIN, is still
    // a partition. Without that group: one key's own lapses must not hold another key's fleet whose agent died.
    const rest = await this.withoutLargest(sql, counts, last);
    const registryTrips = rest !== undefined && tooMany(rest.lapsed, rest.alive, ratio, min);
    const held = new Set<string>();
    for (const group of counts.values()) {
      const hold = stored.get(group.grp);
      const since = optionalBigint(hold?.since ?? null);
      if (since !== undefined) {
        const heldFrom = optionalBigint(hold!.heldFrom) ?? since - GUARD_WINDOW_MS;
        const still = await sql.lapsed(group.grp, heldFrom, heldFrom, now);
        // No EXPIRY_GUARD_MIN here: a hold of a small fleet ends when its agents come back, not at the next run.
        const why = releaseReason(now - since, maxMs, still, optionalBigint(hold!.heldAlive) ?? 0, ratio, 1);
        if (why === undefined) {
          held.add(group.grp);
          continue;
        }
        await sql.releaseGroup(group.grp, now);
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
        await sql.holdGroup(group.grp, now, reason, last, group.aliveBefore);
        held.add(group.grp);
        this.logger.error(`Mass-expiry guard engaged: ${reason}`);
      }
    }

    const everything = await this.decideRegistry(sql, row, rest, last, now);
    await sql.completed(Math.max(now, checked ?? now));
    return {
      at: now,
      everything,
      owners: [...held].filter((grp) => grp !== UNOWNED).sort(),
      unowned: held.has(UNOWNED),
    };
  }

  /** The hold of the whole registry: its lapses trip the rule even without its largest contributing group. */
  private async decideRegistry(
    sql: ExpiryGuardRepository,
    row: GuardRow,
    rest: Rest | undefined,
    last: number,
    now: number,
  ): Promise<boolean> {
    const { ratio, min, maxMs } = this.config.expiryGuard;
    const since = optionalBigint(row.since);
    if (since !== undefined) {
      // A hold stored before the guard judged each key: it watches the agents alive a minute before it engaged.
      const heldFrom = optionalBigint(row.heldFrom) ?? since - GUARD_WINDOW_MS;
      const still = await sql.lapsedAll(heldFrom, now, row.heldWithout);
      const alive =
        optionalBigint(row.heldAlive) ?? (await sql.aliveAt(heldFrom, undefined, undefined, row.heldWithout));
      const why = releaseReason(now - since, maxMs, still, alive, ratio, min);
      if (why === undefined) return true;
      await sql.releaseRegistry();
      this.logger.warn(`Mass-expiry guard released the whole registry: ${why}; cleanup deletes expired agents again`);
    }
    if (rest === undefined || !tooMany(rest.lapsed, rest.alive, ratio, min)) return false;
    const reason =
      `${explain(rest.lapsed, rest.alive, last, now, ratio)}, leaving out ${groupName(rest.largest)} (the largest ` +
      'share): cleanup deletes no agent until they come back, EXPIRY_GUARD_MAX_SECONDS pass, or an admin releases the ' +
      'guard';
    await sql.holdRegistry(now, reason, last, rest.alive, rest.largest);
    this.logger.error(`Mass-expiry guard engaged for the whole registry: ${reason}`);
    return true;
  }

  /**
   * Per group with lapses (and per held group): its agents alive at the last check whose leases ran out since (since
   * a release, if later), and its agents alive at the last check, as the table holds them now (registered by then,
   * lease running past it). Only the lapses are read for every group, a range of the expires_at index; the agents
   * alive are counted through the owner index for the groups with lapses alone, and only as far as the rule needs:
   * a group with more than lapses / EXPIRY_GUARD_RATIO does not trip it, however many more it has.
   */
  private async count(
    sql: ExpiryGuardRepository,
    stored: Map<string, GroupRow>,
    last: number,
    now: number,
    releasedAll: number,
  ): Promise<Map<string, GroupCount>> {
    const { ratio } = this.config.expiryGuard;
    const from = Math.min(now, Math.max(last, releasedAll));
    const lapses = await sql.lapsesByGroup(last, from, now);
    const counts = new Map<string, GroupCount>();
    for (const [grp, hold] of stored) {
      if (hold.since !== null) counts.set(grp, { grp, aliveBefore: 0, lapsed: 0 });
    }
    for (const [grp, since] of lapses) {
      // A group released since the last check counts only what ran out after its release.
      const released = optionalBigint(stored.get(grp)?.releasedAt ?? null);
      const lapsed =
        released !== undefined && released > from && released < now
          ? await sql.lapsed(grp, last, released, now)
          : since;
      const aliveBefore = lapsed === 0 ? 0 : await sql.aliveAt(last, cap(lapsed, ratio), grp);
      counts.set(grp, { grp, aliveBefore, lapsed });
    }
    return counts;
  }

  /**
   * The registry's lapses and agents alive at the last check, without the group that lost the most. The agents
   * alive are counted only when the lapses reach EXPIRY_GUARD_MIN, and only as far as the rule needs.
   */
  private async withoutLargest(
    sql: ExpiryGuardRepository,
    counts: Map<string, GroupCount>,
    last: number,
  ): Promise<Rest | undefined> {
    const { ratio, min } = this.config.expiryGuard;
    let largest: GroupCount | undefined;
    let lapsed = 0;
    for (const group of counts.values()) {
      lapsed += group.lapsed;
      if (largest === undefined || group.lapsed > largest.lapsed) largest = group;
    }
    if (largest === undefined) return undefined;
    lapsed -= largest.lapsed;
    if (lapsed < min) return { lapsed, alive: 0, largest: largest.grp };
    const alive = await sql.aliveAt(last, cap(lapsed, ratio), undefined, largest.grp);
    return { lapsed, alive, largest: largest.grp };
  }

  /** The guard as stored (for `/health`). */
  async state(): Promise<ExpiryGuardState> {
    const sql = new ExpiryGuardRepository(this.orm.em.fork() as EntityManager);
    const row = await sql.registryHold();
    const groups = await sql.groups(true);
    const everything = row !== undefined && row.since !== null;
    const holds = [...(everything ? [row] : []), ...groups].sort(
      (a, b) => bigintValue(a.since!) - bigintValue(b.since!),
    );
    const state: ExpiryGuardState =
      holds.length === 0
        ? { engaged: false }
        : {
            engaged: true,
            since: bigintValue(holds[0].since!),
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
      const sql = new ExpiryGuardRepository(tx);
      await sql.lock();
      const now = this.clock.now().getTime();
      if (key === undefined) {
        await sql.releaseRegistry(now);
        await sql.releaseAllGroups(now);
        this.logger.warn(`Mass-expiry guard ${by}; cleanup deletes expired agents again`);
      } else {
        await sql.releaseGroup(key, now);
        this.logger.warn(`Mass-expiry guard: ${groupName(key)} ${by}`);
      }
    });
    const state = await this.state();
    return { engaged: state.engaged };
  }
}
