import { MikroORM, raw } from '@mikro-orm/core';
import { EntityManager } from '@mikro-orm/knex';
import { BeforeApplicationShutdown, Inject, Injectable, NotFoundException } from '@nestjs/common';
import { Clock } from '../common/clock';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { databaseUnavailableReason } from '../database/database-unavailable';
import { Outcome, WriteBatcher } from '../database/write-batcher';
import { AgentRecord } from './agent-record.entity';
import { LEASE_EXPIRY_SQL, leaseExpiry } from './lease';

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
 */
@Injectable()
export class RegistryWriter implements BeforeApplicationShutdown {
  private readonly batcher: WriteBatcher<RegistryWrite, RegistryWriteResult>;

  constructor(
    private readonly orm: MikroORM,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.batcher = new WriteBatcher({
      flush: (writes) => this.flush(writes),
      maxBatch: config.writeBatchMax,
      maxQueue: config.writeQueueMax,
      failsWholeBatch: (error) => databaseUnavailableReason(error) !== undefined,
    });
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

  /** One transaction for the whole batch. A fork of its own: the batch is not any one request's work. */
  private flush(writes: RegistryWrite[]): Promise<Outcome<RegistryWriteResult>[]> {
    const now = this.clock.now().getTime();
    const em = this.orm.em.fork() as EntityManager;
    return em.transactional(async (tx) => {
      const outcomes: Outcome<RegistryWriteResult>[] = [];
      for (const run of statementRuns(writes)) {
        const ids = run.map((write) => write.agentId);
        const kind = run[0].kind;
        if (kind === 'register') {
          outcomes.push(...(await this.upsert(tx, run as Extract<RegistryWrite, { kind: 'register' }>[], now)));
        } else if (kind === 'heartbeat') {
          outcomes.push(...(await this.renew(tx, ids, now)));
        } else {
          outcomes.push(...(await this.remove(tx, ids)));
        }
      }
      return outcomes;
    });
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
      .insert(records)
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

  private async renew(tx: EntityManager, ids: string[], now: number): Promise<Outcome<Lease>[]> {
    const rows = await tx
      .createQueryBuilder(AgentRecord)
      .update({ lastHeartbeat: now, expiresAt: raw(LEASE_EXPIRY_SQL, [now]) })
      .where({ agentId: { $in: ids } })
      .returning(['agentId', 'expiresAt'])
      .execute<{ agentId: string; expiresAt: number | string }[]>('all');
    const expiresAt = new Map(rows.map((row) => [row.agentId, Number(row.expiresAt)]));
    return ids.map((id) => {
      const expiry = expiresAt.get(id);
      return expiry === undefined
        ? { ok: false, error: agentNotFound(id) }
        : { ok: true, value: { lastHeartbeat: now, expiresAt: expiry } };
    });
  }

  private async remove(tx: EntityManager, ids: string[]): Promise<Outcome<true>[]> {
    // Plain SQL that both dialects speak: MikroORM 6's query builder drops RETURNING from a DELETE, and its SQLite
    // dialect runs raw SQL that starts with `delete` without reading rows back; the leading comment avoids both.
    const rows = await tx
      .getConnection()
      .execute<{ agent_id: string }[]>(
        `/* deregister */ delete from agent_record where agent_id in (${ids.map(() => '?').join(', ')}) returning agent_id`,
        ids,
        'all',
        tx.getTransactionContext(),
      );
    const deleted = new Set(rows.map((row) => row.agent_id));
    return ids.map((id) => (deleted.has(id) ? { ok: true, value: true } : { ok: false, error: agentNotFound(id) }));
  }
}

/**
 * Splits a batch, in order, into runs that one statement each can write: consecutive writes of one kind, each on a
 * different agent. A second write on an agent starts a new run, so it sees the first (register, then heartbeat).
 */
function statementRuns(writes: RegistryWrite[]): RegistryWrite[][] {
  const runs: RegistryWrite[][] = [];
  let run: RegistryWrite[] = [];
  let ids = new Set<string>();
  for (const write of writes) {
    if (run.length > 0 && (write.kind !== run[0].kind || ids.has(write.agentId))) {
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

export function agentNotFound(agentId: string): NotFoundException {
  return new NotFoundException(`Agent not found: ${agentId}`);
}
