import { EntityManager } from '@mikro-orm/knex';
import { bigintValue } from '../database/bigint';
import { lockSingletonRow } from '../database/lock-singleton-row';

/** The group of the agents nobody owns (key names start with a letter or a digit). */
export const UNOWNED = '';

/** The guard's row as stored. */
export interface GuardRow {
  since: number | string | null;
  reason: string | null;
  releasedAt: number | string | null;
  checkedAt: number | string | null;
  heldFrom: number | string | null;
  heldAlive: number | string | null;
  heldWithout: string | null;
}

/** One group's hold as stored. */
export interface GroupRow {
  grp: string;
  since: number | string | null;
  reason: string | null;
  releasedAt: number | string | null;
  heldFrom: number | string | null;
  heldAlive: number | string | null;
}

const GROUP_COLUMNS =
  'grp, since, reason, released_at as "releasedAt", held_from as "heldFrom", held_alive as "heldAlive"';
const HOLD_CLEARED = 'since = null, reason = null, held_from = null, held_alive = null';

/** A condition on agent_record: the agent is in the group `grp` (through the owner index). */
function inGroup(grp: string): { sql: string; params: string[] } {
  return grp === UNOWNED ? { sql: 'owner is null', params: [] } : { sql: 'owner = ?', params: [grp] };
}

/** A condition on agent_record: the agent is not in the group `grp`. */
function notInGroup(grp: string): { sql: string; params: string[] } {
  return grp === UNOWNED
    ? { sql: 'owner is not null', params: [] }
    : { sql: '(owner is null or owner <> ?)', params: [grp] };
}

/** The SQL of the mass-expiry guard (see ExpiryGuard), on one transaction (or a fork, outside one). */
export class ExpiryGuardRepository {
  constructor(private readonly em: EntityManager) {}

  /** Locks the guard's row until the transaction ends (replicas take turns) and reads it. */
  lock(): Promise<GuardRow> {
    return lockSingletonRow<GuardRow>(
      this.em,
      'expiry_guard',
      'since',
      'since, reason, released_at as "releasedAt", checked_at as "checkedAt", held_from as "heldFrom", ' +
        'held_alive as "heldAlive", held_without as "heldWithout"',
    );
  }

  /** Every group row stored (holds, and releases the next check must know of). */
  async groups(onlyHeld = false): Promise<GroupRow[]> {
    return this.all<GroupRow>(
      `select ${GROUP_COLUMNS} from expiry_guard_group${onlyHeld ? ' where since is not null' : ''} order by grp`,
    );
  }

  /**
   * Per group, the agents registered by `last` whose leases ran out after `from` and by `now`: a range of the
   * expires_at index, as small as the lapses.
   */
  async lapsesByGroup(last: number, from: number, now: number): Promise<Map<string, number>> {
    const rows = await this.all<{ grp: string; n: number | string }>(
      'select coalesce(owner, ?) as grp, count(*) as n from agent_record ' +
        'where expires_at > ? and expires_at <= ? and registered_at <= ? group by coalesce(owner, ?)',
      [UNOWNED, from, now, last, UNOWNED],
    );
    return new Map(rows.map((row) => [row.grp, bigintValue(row.n)]));
  }

  /** The agents of `grp` registered by `at` whose leases ran out after `from` and by `now`. */
  lapsed(grp: string, at: number, from: number, now: number): Promise<number> {
    const group = inGroup(grp);
    return this.count(`${group.sql} and registered_at <= ? and expires_at > ? and expires_at <= ?`, [
      ...group.params,
      at,
      from,
      now,
    ]);
  }

  /** The registry's agents (or those outside `without`) registered by `at` whose leases ran out after it, by `now`. */
  lapsedAll(at: number, now: number, without: string | null): Promise<number> {
    const outside = without === null ? { sql: '', params: [] } : prefixed(notInGroup(without));
    return this.count(`registered_at <= ? and expires_at > ? and expires_at <= ?${outside.sql}`, [
      at,
      at,
      now,
      ...outside.params,
    ]);
  }

  /**
   * The agents of `grp` (every group's with `grp` undefined; all but `without`'s) alive at `at`, as the table holds
   * them now. Counting stops at `cap`: the caller needs the exact number only below it.
   */
  aliveAt(at: number, cap: number | undefined, grp?: string, without?: string | null): Promise<number> {
    const group =
      grp !== undefined
        ? prefixed(inGroup(grp))
        : without !== undefined && without !== null
          ? prefixed(notInGroup(without))
          : undefined;
    const where = `registered_at <= ? and expires_at > ?${group?.sql ?? ''}`;
    const params = [at, at, ...(group?.params ?? [])];
    if (cap === undefined) return this.count(where, params);
    return this.all<{ n: number | string }>(
      `select count(*) as n from (select 1 from agent_record where ${where} limit ?) capped`,
      [...params, cap],
    ).then(([row]) => bigintValue(row.n));
  }

  async holdGroup(grp: string, since: number, reason: string, heldFrom: number, heldAlive: number): Promise<void> {
    await this.run(
      'insert into expiry_guard_group (grp, alive, since, reason, held_from, held_alive) values (?, 0, ?, ?, ?, ?) ' +
        'on conflict (grp) do update set since = excluded.since, reason = excluded.reason, ' +
        'held_from = excluded.held_from, held_alive = excluded.held_alive',
      [grp, since, reason, heldFrom, heldAlive],
    );
  }

  async releaseGroup(grp: string, now: number): Promise<void> {
    await this.run(`update expiry_guard_group set ${HOLD_CLEARED}, released_at = ? where grp = ?`, [now, grp]);
  }

  async holdRegistry(since: number, reason: string, heldFrom: number, heldAlive: number, without: string) {
    await this.run(
      'update expiry_guard set since = ?, reason = ?, held_from = ?, held_alive = ?, held_without = ? where id = 1',
      [since, reason, heldFrom, heldAlive, without],
    );
  }

  /** Ends the hold of the whole registry; an admin's release (`at`) also keeps lapses before it from counting. */
  async releaseRegistry(at?: number): Promise<void> {
    await this.run(
      `update expiry_guard set ${HOLD_CLEARED}, held_without = null${at === undefined ? '' : ', released_at = ?'} ` +
        'where id = 1',
      at === undefined ? [] : [at],
    );
  }

  async releaseAllGroups(now: number): Promise<void> {
    await this.run(`update expiry_guard_group set ${HOLD_CLEARED}, released_at = ?`, [now]);
  }

  /** This check completed at `at`: the next counts from it, and releases before it no longer matter. */
  async completed(at: number): Promise<void> {
    await this.run('update expiry_guard set checked_at = ? where id = 1', [at]);
    await this.run('delete from expiry_guard_group where since is null and (released_at is null or released_at <= ?)', [
      at,
    ]);
  }

  /** The whole registry's hold, for `/health`. */
  async registryHold(): Promise<{ since: number | string | null; reason: string | null } | undefined> {
    const [row] = await this.all<{ since: number | string | null; reason: string | null }>(
      'select since, reason from expiry_guard where id = 1',
    );
    return row;
  }

  private all<Row>(sql: string, params: unknown[] = []): Promise<Row[]> {
    return this.em.getConnection().execute<Row[]>(sql, params, 'all', this.em.getTransactionContext());
  }

  private async run(sql: string, params: unknown[] = []): Promise<void> {
    await this.em.getConnection().execute(sql, params, 'run', this.em.getTransactionContext());
  }

  private async count(where: string, params: unknown[]): Promise<number> {
    const [row] = await this.all<{ n: number | string }>(
      `select count(*) as n from agent_record where ${where}`,
      params,
    );
    return bigintValue(row.n);
  }
}

function prefixed(condition: { sql: string; params: string[] }): { sql: string; params: string[] } {
  return { sql: ` and ${condition.sql}`, params: condition.params };
}
