import { LockMode, MikroORM } from '@mikro-orm/core';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { EntityManager } from '@mikro-orm/knex';
import { BeforeApplicationShutdown, Inject, Injectable, Logger, NotFoundException } from '@nestjs/common';
import { Clock } from '../common/clock';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { databaseUnavailableReason } from '../database/database-unavailable';
import { Outcome, WriteBatcher } from '../database/write-batcher';
import { AgentRecord } from './agent-record.entity';
import { deleteAgentsReturningIds } from './delete-agents';
import { leaseExpiry, leaseRenewalSql } from './lease';

/** A registration as the client sent it; the writer stamps the times when its batch commits. */
export type Registration = Omit<AgentRecord, 'registeredAt' | 'lastHeartbeat' | 'expiresAt'>;
export interface Lease {
  lastHeartbeat: number;
  expiresAt: number;
}

type RegistryWrite =
  | { kind: 'register'; agentId: string; registration: Registration }
  | { kind: 'heartbeat'; agentId: string }
  | { kind: 'deregister'; agentId: string };
type RegistryWriteResult = AgentRecord | Lease | true;

/**
 * Most rows one statement writes: SQLite allows 500 terms in the compound SELECT MikroORM builds for a multi-row
 * insert, and it keeps every statement far below both dialects' limits on bound parameters.
 */
export const MAX_ROWS_PER_STATEMENT = 500;

/** Memory the queued writes may hold, whatever WRITE_QUEUE_MAX allows in count. */
export const MAX_QUEUED_BYTES = 64 * 1024 * 1024;

/** A PostgreSQL deadlock or serialization failure aborts the whole transaction; it is retried this often. */
const TRANSACTION_ATTEMPTS = 3;
const RETRYABLE_SQLSTATES = new Set(['40P01', '40001']);

/** Fields a re-registration overwrites; `registered_at` keeps its first value. */
const REREGISTER_FIELDS = [
  'agentName',
  'host',
  'port',
  'ttlSeconds',
  'metadata',
  'lastHeartbeat',
  'expiresAt',
] as const;

/**
 * Every write of the registry (register, heartbeat, deregister) goes through one group-commit batcher: the writes
 * that arrive while a transaction is in flight share the next one. Within a batch the writes keep their order:
 * consecutive writes of one kind on distinct agents become one statement (a multi-row upsert, an
 * `UPDATE … WHERE agent_id IN (…) RETURNING`, a `DELETE … RETURNING`), so a batch of heartbeats costs one
 * statement and one commit. Nothing reads a row and writes it back, so replicas racing on one database stay correct.
 *
 * On PostgreSQL, batches of replicas racing on the same agents would lock rows in different orders and deadlock:
 * each batch first locks the rows it will write in `agent_id` order (`SELECT … ORDER BY agent_id FOR UPDATE`, which
 * reads nothing back to write), upserts insert new agents in the same order, and a deadlock that still happens
 * (two batches inserting the same new agents in different runs) is retried.
 */
@Injectable()
export class RegistryWriter implements BeforeApplicationShutdown {
  private readonly logger = new Logger(RegistryWriter.name);
  private readonly batcher: WriteBatcher<RegistryWrite, RegistryWriteResult>;
  private readonly lockRowsFirst: boolean;
  private readonly renewal: ReturnType<typeof leaseRenewalSql>;

  constructor(
    private readonly orm: MikroORM,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.batcher = new WriteBatcher({
      flush: (writes) => this.flush(writes),
      maxBatch: config.writeBatchMax,
      maxQueue: config.writeQueueMax,
      maxQueueBytes: MAX_QUEUED_BYTES,
      sizeOf: (write) => (write.kind === 'register' ? registrationBytes(write.registration) : 2 * write.agentId.length),
      failsWholeBatch: (error) => databaseUnavailableReason(error) !== undefined,
    });
    this.lockRowsFirst = orm.config.getDriver() instanceof PostgreSqlDriver;
    this.renewal = leaseRenewalSql(this.lockRowsFirst ? 'postgresql' : 'sqlite');
  }

  /** Creates or overwrites the agent; resolves with the stored record (its first `registered_at` kept). */
  register(registration: Registration): Promise<AgentRecord> {
    return this.batcher.submit({
      kind: 'register',
      agentId: registration.agentId,
      registration,
    }) as Promise<AgentRecord>;
  }

  /** Renews the lease from now; rejects with 404 if the agent is not registered. */
  heartbeat(agentId: string): Promise<Lease> {
    return this.batcher.submit({ kind: 'heartbeat', agentId }) as Promise<Lease>;
  }

  /** Deletes the agent; rejects with 404 if it is not registered. */
  async deregister(agentId: string): Promise<void> {
    await this.batcher.submit({ kind: 'deregister', agentId });
  }

  /** Writes waiting for a group commit, and writes in the one in flight. */
  get backlog(): { queued: number; inFlight: number } {
    return { queued: this.batcher.queued, inFlight: this.batcher.inFlight };
  }

  /** Shutdown: refuse new writes, commit and answer the queued ones, before the database closes. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.batcher.close();
  }

  /** One transaction for the whole batch, retried on a deadlock. */
  private async flush(writes: RegistryWrite[]): Promise<Outcome<RegistryWriteResult>[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.flushOnce(writes);
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (attempt >= TRANSACTION_ATTEMPTS || typeof code !== 'string' || !RETRYABLE_SQLSTATES.has(code)) throw error;
        this.logger.warn(`A write batch hit ${code} (attempt ${attempt} of ${TRANSACTION_ATTEMPTS}); retrying it`);
      }
    }
  }

  /**
   * A fork of its own: the batch is not any one request's work. A batch that is one statement (the common case: a
   * burst of heartbeats) runs without BEGIN and COMMIT around it: the statement commits atomically and durably on its
   * own, and on SQLite the two extra round trips through the driver's thread took a third of the throughput. On
   * PostgreSQL that holds for heartbeats alone and deletes alone, whose statement locks its rows in agent_id order
   * itself; any other batch locks its rows first, in a transaction.
   */
  private flushOnce(writes: RegistryWrite[]): Promise<Outcome<RegistryWriteResult>[]> {
    const em = this.orm.em.fork() as EntityManager;
    const runs = statementRuns(writes);
    const [only] = runs;
    if (runs.length === 1 && (!this.lockRowsFirst || only[0].kind !== 'register')) {
      return this.write(em, only, this.clock.now().getTime(), this.lockRowsFirst ? LOCKED_IN_ORDER : LISTED);
    }
    return em.transactional(async (tx) => {
      if (this.lockRowsFirst) await lockRows(tx, writes);
      // Stamped once the locks are held: a batch that waited for another replica's writes never writes older times.
      const now = this.clock.now().getTime();
      const outcomes: Outcome<RegistryWriteResult>[] = [];
      for (const run of runs) outcomes.push(...(await this.write(tx, run, now, LISTED)));
      return outcomes;
    });
  }

  /**
   * One statement: a run of writes of one kind on distinct agents (see statementRuns). `among` picks the rows a
   * heartbeat or delete touches: the listed ids, or (alone on PostgreSQL) the same ids locked in agent_id order.
   */
  private write(
    em: EntityManager,
    run: RegistryWrite[],
    now: number,
    among: RowsAmong,
  ): Promise<Outcome<RegistryWriteResult>[]> {
    const ids = run.map((write) => write.agentId);
    switch (run[0].kind) {
      case 'register':
        return this.upsert(em, run as Extract<RegistryWrite, { kind: 'register' }>[], now);
      case 'heartbeat':
        return this.renew(em, ids, now, among);
      case 'deregister':
        return this.remove(em, ids, among);
    }
  }

  private async upsert(
    tx: EntityManager,
    run: Extract<RegistryWrite, { kind: 'register' }>[],
    now: number,
  ): Promise<Outcome<AgentRecord>[]> {
    const records = run.map(({ registration }) => ({
      ...registration,
      registeredAt: now,
      lastHeartbeat: now,
      expiresAt: leaseExpiry(now, registration.ttlSeconds),
    }));
    const rows = await tx
      .createQueryBuilder(AgentRecord)
      .insert(sortedById(records))
      .onConflict('agentId')
      .merge([...REREGISTER_FIELDS])
      .returning(['agentId', 'registeredAt'])
      .execute<{ agentId: string; registeredAt: number | string }[]>('all');
    // RETURNING rows are not hydrated, and PostgreSQL answers bigint columns as strings.
    const registeredAt = new Map(rows.map((row) => [row.agentId, Number(row.registeredAt)]));
    return records.map((record) => ({
      ok: true,
      value: { ...record, registeredAt: registeredAt.get(record.agentId)! },
    }));
  }

  /**
   * Its time may be stamped before the row locks are held (a single statement on PostgreSQL), so a batch that waited
   * for another replica's may carry an earlier time than the one it overwrites: the renewal SQL keeps the later one
   * (leaseRenewalSql). The leading comment makes MikroORM's SQLite dialect read the RETURNING rows of raw SQL.
   */
  private async renew(em: EntityManager, ids: string[], now: number, among: RowsAmong): Promise<Outcome<Lease>[]> {
    const rows = await em
      .getConnection()
      .execute<{ agentId: string; lastHeartbeat: number | string; expiresAt: number | string }[]>(
        `/* heartbeat */ update agent_record set last_heartbeat = ${this.renewal.lastHeartbeat}, ` +
          `expires_at = ${this.renewal.expiresAt} where agent_id in ${among(ids)} ` +
          'returning agent_id as "agentId", last_heartbeat as "lastHeartbeat", expires_at as "expiresAt"',
        [now, now, ...ids],
        'all',
        em.getTransactionContext(),
      );
    return leasesOf(ids, rows);
  }

  private async remove(em: EntityManager, ids: string[], among: RowsAmong): Promise<Outcome<true>[]> {
    const deleted = new Set(await deleteAgentsReturningIds(em, 'deregister', `agent_id in ${among(ids)}`, ids));
    return ids.map((id) => (deleted.has(id) ? { ok: true, value: true } : { ok: false, error: agentNotFound(id) }));
  }
}

/** Each heartbeat's renewed lease, or 404 for an id the statement did not find (PostgreSQL answers bigint as text). */
function leasesOf(
  ids: string[],
  rows: { agentId: string; lastHeartbeat: number | string; expiresAt: number | string }[],
): Outcome<Lease>[] {
  const leases = new Map(
    rows.map((row) => [row.agentId, { lastHeartbeat: Number(row.lastHeartbeat), expiresAt: Number(row.expiresAt) }]),
  );
  return ids.map((id) => {
    const lease = leases.get(id);
    return lease === undefined ? { ok: false, error: agentNotFound(id) } : { ok: true, value: lease };
  });
}

/** SQL for the rows of the given agents, binding their ids. */
type RowsAmong = (ids: string[]) => string;
const placeholders = (ids: string[]) => ids.map(() => '?').join(', ');
const LISTED: RowsAmong = (ids) => `(${placeholders(ids)})`;
/** The same rows, locked in agent_id order by a subquery, so a single statement cannot deadlock with a replica's. */
const LOCKED_IN_ORDER: RowsAmong = (ids) =>
  `(select agent_id from agent_record where agent_id in (${placeholders(ids)}) order by agent_id for update)`;

/**
 * Splits a batch, in order, into runs that one statement each can write: consecutive writes of one kind, each on a
 * different agent, at most MAX_ROWS_PER_STATEMENT of them. A second write on an agent starts a new run, so it sees
 * the first (register, then heartbeat).
 */
function statementRuns(writes: RegistryWrite[]): RegistryWrite[][] {
  const runs: RegistryWrite[][] = [];
  let run: RegistryWrite[] = [];
  let ids = new Set<string>();
  for (const write of writes) {
    const full = run.length >= MAX_ROWS_PER_STATEMENT;
    if (run.length > 0 && (full || write.kind !== run[0].kind || ids.has(write.agentId))) {
      runs.push(run);
      run = [];
      ids = new Set();
    }
    run.push(write);
    ids.add(write.agentId);
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

/** Locks the batch's existing rows in one order every replica shares, before any statement writes them. */
async function lockRows(tx: EntityManager, writes: RegistryWrite[]): Promise<void> {
  const ids = [...new Set(writes.map((write) => write.agentId))].sort();
  if (ids.length < 2) return;
  await tx
    .createQueryBuilder(AgentRecord)
    .select('agentId')
    .where({ agentId: { $in: ids } })
    .orderBy({ agentId: 'asc' })
    .setLockMode(LockMode.PESSIMISTIC_WRITE)
    .execute('all', false);
}

function sortedById<T extends { agentId: string }>(records: T[]): T[] {
  return [...records].sort((a, b) => (a.agentId < b.agentId ? -1 : a.agentId > b.agentId ? 1 : 0));
}

/** About what a queued registration holds in memory (JavaScript strings are UTF-16). */
function registrationBytes(registration: Registration): number {
  const text = registration.agentId.length + registration.agentName.length + registration.host.length;
  return 2 * (text + (registration.metadata?.length ?? 0)) + 64;
}

export function agentNotFound(agentId: string): NotFoundException {
  return new NotFoundException(`Agent not found: ${agentId}`);
}
