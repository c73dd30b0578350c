import { IsolationLevel, raw } from '@mikro-orm/core';
import { bigintValue } from '../../database/bigint';
import { EntityManager } from '@mikro-orm/knex';
import { mayWriteAny } from '../../auth/ownership';
import type { Principal } from '../../auth/auth.guard';
import { lockedInOrder } from './agent-locks';
import { Dialect } from '../../database/dialect';
import { AgentSelection, planAgentQuery, RunSql } from './agent-query';
import { AgentRecord } from './agent-record.entity';
import {
  agentColumns,
  ALL_COLUMNS,
  columnsAs,
  columnsOf,
  columnValues,
  fromRow,
  REREGISTER_FIELDS,
  StoredRow,
} from './agent-rows';
import { runBound, valuesPlaceholders } from '../../database/bound-sql';
import { positionAt, revisionState } from './event-log';

/**
 * The SQL of agent_record outside the event log and deletes (delete-agents.ts): reads, the upsert of registrations,
 * the heartbeat's renewal, and counts. Each function runs in `em`'s transaction, if it has one. The statements are
 * raw where the benchmarks measured the query builder's cost, and select agentColumns (one list of columns).
 */

/** A renewed lease, as a heartbeat answers it. */
export interface Lease {
  lastHeartbeat: number;
  expiresAt: number;
}

/** SQL for the rows of the given agents, binding their ids. */
export type RowsAmong = (ids: string[]) => string;
const placeholders = (ids: readonly unknown[]) => ids.map(() => '?').join(', ');
export const LISTED: RowsAmong = (ids) => `(${placeholders(ids)})`;
/** The same rows, locked in agent_id order by a subquery, so a single statement cannot deadlock with a replica's. */
export const LOCKED_IN_ORDER: RowsAmong = (ids) => lockedInOrder(LISTED(ids));

/** The stored agents among `ids`; `suffix` (an order, a lock) ends the statement. */
export async function agentsWithIds(em: EntityManager, ids: string[], suffix = ''): Promise<AgentRecord[]> {
  const rows = await em
    .getConnection()
    .execute<StoredRow[]>(
      `select ${agentColumns()} from agent_record where agent_id in (${placeholders(ids)})${suffix}`,
      ids,
      'all',
      em.getTransactionContext(),
    );
  return rows.map(fromRow);
}

/** The ids among `ids` that are registered. */
export async function registeredIds(em: EntityManager, ids: string[]): Promise<Set<string>> {
  const rows = await em
    .getConnection()
    .execute<{ agentId: string }[]>(
      `select ${columnsAs(['agentId'])} from agent_record where agent_id in ${LISTED(ids)}`,
      ids,
      'all',
      em.getTransactionContext(),
    );
  return new Set(rows.map((row) => row.agentId));
}

const OVERWRITTEN = columnsOf(REREGISTER_FIELDS)
  .map((column) => `${column} = excluded.${column}`)
  .join(', ');

/**
 * Inserts the records, or overwrites them but for `registered_at` (REREGISTER_FIELDS), in agent_id order: one
 * statement with the values bound (runBound), as both dialects write it. MikroORM's query builder mapped every row
 * and wrote every value into the SQL text first, 9 % of the registry's CPU under registrations.
 */
export async function upsertAgents(tx: EntityManager, records: AgentRecord[]): Promise<void> {
  const sorted = sortedById(records);
  await runBound(
    tx,
    `insert into agent_record (${ALL_COLUMNS.join(', ')}) values ${valuesPlaceholders(sorted.length, ALL_COLUMNS.length)} ` +
      `on conflict (agent_id) do update set ${OVERWRITTEN}`,
    sorted.flatMap(columnValues),
  );
}

/**
 * One heartbeat statement for `ids`: `set` is the lease renewal (leaseRenewalSql, binding `now` twice), `among` picks
 * the rows, `owned` is the ownership condition (ownershipCondition). The leading comment makes MikroORM's SQLite
 * dialect read the RETURNING rows of raw SQL. Answers the leases renewed, by agent id.
 */
export async function renewLeases(
  em: EntityManager,
  set: { lastHeartbeat: string; expiresAt: string },
  ids: string[],
  now: number,
  among: RowsAmong,
  owned: { sql: string; params: string[] },
): Promise<Map<string, Lease>> {
  const rows = await em
    .getConnection()
    .execute<{ agentId: string; lastHeartbeat: number | string; expiresAt: number | string }[]>(
      `/* heartbeat */ update agent_record set last_heartbeat = ${set.lastHeartbeat}, ` +
        `expires_at = ${set.expiresAt} where agent_id in ${among(ids)}${owned.sql} ` +
        `returning ${columnsAs(['agentId', 'lastHeartbeat', 'expiresAt'])}`,
      [now, now, ...ids, ...owned.params],
      'all',
      em.getTransactionContext(),
    );
  // PostgreSQL answers bigint as text.
  return new Map(
    rows.map((row) => [
      row.agentId,
      { lastHeartbeat: bigintValue(row.lastHeartbeat), expiresAt: bigintValue(row.expiresAt) },
    ]),
  );
}

/**
 * The heartbeat statement's ownership condition (see mayWrite): rows nobody owns, rows of writers that may write any,
 * and rows owned by the key that renews them. Empty when no writer is checked.
 */
export function ownershipCondition(writes: { agentId: string; writer?: Principal }[]): {
  sql: string;
  params: string[];
} {
  const checked = writes.filter(({ writer }) => !mayWriteAny(writer));
  if (checked.length === 0) return { sql: '', params: [] };
  const free = writes.filter(({ writer }) => mayWriteAny(writer)).map((write) => write.agentId);
  // A row value IN a VALUES list: SQLite takes no other right-hand side for a row value.
  const pairs = checked.map(() => '(?, ?)').join(', ');
  return {
    sql:
      ` and (owner is null${free.length > 0 ? ` or agent_id in ${LISTED(free)}` : ''}` +
      ` or (agent_id, owner) in (values ${pairs}))`,
    params: [...free, ...checked.flatMap(({ agentId, writer }) => [agentId, writer!.name])],
  };
}

/** How many agents each of `owners` owns (one grouped query, on agent_record's owner index); 0 for none. */
export async function countOwned(tx: EntityManager, owners: string[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  if (owners.length === 0) return counts;
  const rows = await tx
    .getConnection()
    .execute<{ owner: string; agents: number | string }[]>(
      `select owner, count(*) as agents from agent_record where owner in (${placeholders(owners)}) group by owner`,
      owners,
      'all',
      tx.getTransactionContext(),
    );
  for (const owner of owners) counts.set(owner, 0);
  for (const row of rows) counts.set(row.owner, bigintValue(row.agents));
  return counts;
}

/** How many agents are registered, and how many of those hold a lease running at `now`: one consistent read. */
export async function countAgents(em: EntityManager, now: number): Promise<{ registered: number; active: number }> {
  const [counts] = await em
    .createQueryBuilder(AgentRecord)
    .select([
      raw('count(*) as registered'),
      raw('coalesce(sum(case when expires_at > ? then 1 else 0 end), 0) as active', [now]),
    ])
    .execute<{ registered: number | string; active: number | string }[]>('all', false);
  // PostgreSQL answers bigint aggregates as strings.
  return { registered: Number(counts.registered), active: Number(counts.active) };
}

/**
 * The registry's revision, its position, and the agents of a selection, in one transaction (on PostgreSQL, one
 * snapshot).
 */
export function agentsWithRevision(
  em: EntityManager,
  selection: AgentSelection,
  dialect: Dialect,
): Promise<{ records: AgentRecord[]; revision: number; position: string }> {
  return em.fork().transactional(
    async (tx) => {
      const { revision } = await revisionState(tx);
      const position = await positionAt(tx, revision);
      const run = (sql: string, params: unknown[]) =>
        tx.getConnection().execute<Record<string, unknown>[]>(sql, params, 'all', tx.getTransactionContext());
      return { records: await selectAgents(selection, dialect, run), revision, position };
    },
    dialect === 'postgresql' ? { isolationLevel: IsolationLevel.REPEATABLE_READ, readOnly: true } : {},
  );
}

/** The agents of a selection, outside any transaction (its statements are reads; probes only pick a plan). */
export function agentsOf(em: EntityManager, selection: AgentSelection, dialect: Dialect): Promise<AgentRecord[]> {
  const connection = em.getConnection();
  return selectAgents(selection, dialect, (sql, params) =>
    connection.execute<Record<string, unknown>[]>(sql, params, 'all'),
  );
}

/** The agents of a selection, planned and read with `run`. */
async function selectAgents(selection: AgentSelection, dialect: Dialect, run: RunSql): Promise<AgentRecord[]> {
  const { sql, params } = await planAgentQuery(selection, dialect, run);
  return ((await run(sql, params)) as unknown as StoredRow[]).map(fromRow);
}

function sortedById<T extends { agentId: string }>(records: T[]): T[] {
  return [...records].sort((a, b) => (a.agentId < b.agentId ? -1 : a.agentId > b.agentId ? 1 : 0));
}
