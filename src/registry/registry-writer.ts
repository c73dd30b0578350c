import { MikroORM } from '@mikro-orm/core';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { EntityManager } from '@mikro-orm/knex';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { Histogram } from 'prom-client';
import {
  BeforeApplicationShutdown,
  ForbiddenException,
  HttpException,
  Inject,
  Injectable,
  Logger,
  NotFoundException,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { Principal } from '../auth/auth.guard';
import { Clock } from '../common/clock';
import { APP_CONFIG } from '../config/environment';
import type { AuthSection } from '../auth/auth.config';
import { RegistrySection } from './registry.config';
import { databaseUnavailableReason } from '../database/database-unavailable';
import { retryingConflicts } from '../database/retry-conflicts';
import { Outcome, WriteBatcher } from '../database/write-batcher';
import { ChangeFeed } from '../events/change-feed';
import { Change, lockRevision } from '../events/event-log';
import { sampleOnScrape } from '../metrics/sampled-gauge';
import { writeFacets } from './agent-facets';
import { lockedInOrder } from './agent-locks';
import { OwnedAgents } from './agent-quota';
import { AgentRecord } from './agent-record.entity';
import { agentColumns, fromRow, Registration, registrationChanged, StoredRow, toAgentInfo } from './agent-rows';
import { deleteAgents } from './delete-agents';
import { leaseExpiry, leaseRenewalSql } from './lease';
import { WRITE_BATCH_SIZE, WRITE_QUEUE_DEPTH } from './registry.metrics';

export type { Registration } from './agent-rows';
export interface Lease {
  lastHeartbeat: number;
  expiresAt: number;
}

/**
 * Who writes: a key (see AuthGuard), or nobody in particular (protected mode, auth off), whose writes are not checked
 * against ownership and claim nothing.
 */
export type Writer = Principal | undefined;

type RegistryWrite =
  | { kind: 'register'; agentId: string; registration: Registration; writer: Writer }
  | { kind: 'heartbeat'; agentId: string; writer: Writer }
  | { kind: 'deregister'; agentId: string; writer: Writer };
type RegistryWriteResult = AgentRecord | Lease | true;

/**
 * Most rows one statement writes: SQLite allows 500 terms in the compound SELECT MikroORM builds for a multi-row
 * insert, and it keeps every statement far below both dialects' limits on bound parameters.
 */
export const MAX_ROWS_PER_STATEMENT = 500;

/** Memory the queued writes may hold, whatever WRITE_QUEUE_MAX allows in count. */
export const MAX_QUEUED_BYTES = 64 * 1024 * 1024;

/** Fields a re-registration overwrites; `registered_at` keeps its first value. */
const REREGISTER_FIELDS = [
  'agentName',
  'host',
  'port',
  'ttlSeconds',
  'metadata',
  'capabilities',
  'labels',
  'agentCard',
  'searchName',
  'searchText',
  'owner',
  'lastHeartbeat',
  'expiresAt',
] as const;

/** The agents a batch writes, as the batch goes: loaded (and on PostgreSQL locked) first, then kept current. */
type Agents = Map<string, AgentRecord>;

/** What a batch's statements share: its agents, how many its writers own (AGENT_QUOTA), the events it records. */
interface BatchState {
  agents: Agents;
  owned: OwnedAgents;
  changes: Change[];
}

/**
 * Every write of the registry (register, heartbeat, deregister) goes through one group-commit batcher: the writes
 * that arrive while a transaction is in flight share the next one. Within a batch the writes keep their order:
 * consecutive writes of one kind on distinct agents become one statement (a multi-row upsert, an
 * `UPDATE … WHERE agent_id IN (…) RETURNING`, a `DELETE … RETURNING`), so a batch of heartbeats costs one
 * statement and one commit. Nothing reads a row and writes it back, so replicas racing on one database stay correct.
 *
 * A batch that registers or deregisters records its changes (see Change) in the same transaction: it takes the
 * revision counter first, then reads the agents it writes (on PostgreSQL locking them in `agent_id` order, so
 * replicas racing on the same agents cannot deadlock), and appends an event for every registration that changed
 * something and every deregistration. Heartbeats are not events: a batch of heartbeats alone stays one statement.
 * A deadlock that still happens is retried.
 */
@Injectable()
export class RegistryWriter implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(RegistryWriter.name);
  private readonly batcher: WriteBatcher<RegistryWrite, RegistryWriteResult>;
  private readonly lockRowsFirst: boolean;
  private readonly renewal: ReturnType<typeof leaseRenewalSql>;
  private stopSampling?: () => void;

  constructor(
    private readonly orm: MikroORM,
    private readonly clock: Clock,
    private readonly feed: ChangeFeed,
    @Inject(APP_CONFIG) private readonly config: RegistrySection & AuthSection,
    @InjectMetric(WRITE_BATCH_SIZE) batchSize: Histogram,
  ) {
    this.batcher = new WriteBatcher({
      flush: (writes) => this.flush(writes),
      maxBatch: config.writeBatchMax,
      maxQueue: config.writeQueueMax,
      maxQueueBytes: MAX_QUEUED_BYTES,
      sizeOf: (write) => (write.kind === 'register' ? registrationBytes(write.registration) : 2 * write.agentId.length),
      failsWholeBatch: (error) => databaseUnavailableReason(error) !== undefined,
      onBatch: (size) => batchSize.observe(size),
    });
    this.lockRowsFirst = orm.config.getDriver() instanceof PostgreSqlDriver;
    this.renewal = leaseRenewalSql(this.lockRowsFirst ? 'postgresql' : 'sqlite');
  }

  /**
   * Creates or overwrites the agent; resolves with the stored record (its first `registered_at` kept). A new agent
   * is owned by its writer's key; rejects with 403 if another key owns it (see mayWrite), with 429 if it would be
   * one more than the key's quota (see OwnedAgents).
   */
  register(registration: Registration, writer?: Writer): Promise<AgentRecord> {
    return this.batcher.submit({
      kind: 'register',
      agentId: registration.agentId,
      registration,
      writer,
    }) as Promise<AgentRecord>;
  }

  /** Renews the lease from now; rejects with 404 if the agent is not registered, 403 if another key owns it. */
  heartbeat(agentId: string, writer?: Writer): Promise<Lease> {
    return this.batcher.submit({ kind: 'heartbeat', agentId, writer }) as Promise<Lease>;
  }

  /** Deletes the agent; rejects with 404 if it is not registered, 403 if another key owns it. */
  async deregister(agentId: string, writer?: Writer): Promise<void> {
    await this.batcher.submit({ kind: 'deregister', agentId, writer });
  }

  /** Writes waiting for a group commit, and writes in the one in flight. */
  get backlog(): { queued: number; inFlight: number } {
    return { queued: this.batcher.queued, inFlight: this.batcher.inFlight };
  }

  onApplicationBootstrap(): void {
    this.stopSampling = sampleOnScrape(WRITE_QUEUE_DEPTH, (gauge) => gauge.set(this.batcher.queued));
  }

  /** Shutdown: refuse new writes, commit and answer the queued ones, before the database closes. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopSampling?.();
    await this.batcher.close();
  }

  /** One transaction for the whole batch, retried on a deadlock. */
  private flush(writes: RegistryWrite[]): Promise<Outcome<RegistryWriteResult>[]> {
    return retryingConflicts(this.logger, 'A write batch', () => this.flushOnce(writes));
  }

  /**
   * A fork of its own: the batch is not any one request's work. A batch of heartbeats alone (the common case) is one
   * statement without BEGIN and COMMIT around it: it commits atomically and durably on its own, and on SQLite the two
   * extra round trips through the driver's thread took a third of the throughput. On PostgreSQL that statement locks
   * its rows in agent_id order itself. Any other batch is a transaction that records its events.
   */
  private async flushOnce(writes: RegistryWrite[]): Promise<Outcome<RegistryWriteResult>[]> {
    const em = this.orm.em.fork() as EntityManager;
    const runs = statementRuns(writes);
    if (runs.length === 1 && runs[0][0].kind === 'heartbeat') {
      const among = this.lockRowsFirst ? LOCKED_IN_ORDER : LISTED;
      return this.renew(em, runs[0], this.clock.now().getTime(), among);
    }
    let revision: number | undefined;
    const outcomes = await em.transactional(async (tx) => {
      const counter = writes.some((write) => write.kind !== 'heartbeat') ? await lockRevision(tx) : undefined;
      // Heartbeats alone record nothing, and on SQLite need no read first.
      const agents: Agents =
        counter || this.lockRowsFirst ? await this.readAgents(tx, writes) : new Map<string, AgentRecord>();
      // Counted once the revision counter is held: no other batch registers until this one commits.
      const registering = writes.filter((write) => write.kind === 'register').map((write) => write.writer);
      const owned = await OwnedAgents.count(tx, registering, this.config);
      // Stamped once the locks are held: a batch that waited for another replica's writes never writes older times.
      const now = this.clock.now().getTime();
      const changes: Change[] = [];
      const outcomes: Outcome<RegistryWriteResult>[] = [];
      for (const run of runs) outcomes.push(...(await this.write(tx, run, now, { agents, owned, changes })));
      if (counter && changes.length > 0) revision = await counter.append(changes, now);
      return outcomes;
    });
    if (revision !== undefined) this.feed.wake();
    return outcomes;
  }

  /**
   * The batch's agents as stored, ordered by agent_id; on PostgreSQL also locked in that order, an order every
   * replica shares, before any statement writes them.
   */
  private async readAgents(tx: EntityManager, writes: RegistryWrite[]): Promise<Agents> {
    const ids = [...new Set(writes.map((write) => write.agentId))].sort();
    const agents: Agents = new Map();
    for (let i = 0; i < ids.length; i += MAX_ROWS_PER_STATEMENT) {
      const chunk = ids.slice(i, i + MAX_ROWS_PER_STATEMENT);
      const rows = await tx
        .getConnection()
        .execute<StoredRow[]>(
          `select ${agentColumns()} from agent_record where agent_id in (${placeholders(chunk)}) order by agent_id` +
            (this.lockRowsFirst ? ' for update' : ''),
          chunk,
          'all',
          tx.getTransactionContext(),
        );
      for (const row of rows) agents.set(row.agentId, fromRow(row));
    }
    return agents;
  }

  /** One statement (and its side-table writes): a run of writes of one kind on distinct agents (see statementRuns). */
  private write(
    tx: EntityManager,
    run: RegistryWrite[],
    now: number,
    batch: BatchState,
  ): Promise<Outcome<RegistryWriteResult>[]> {
    switch (run[0].kind) {
      case 'register':
        return this.upsert(tx, run as Extract<RegistryWrite, { kind: 'register' }>[], now, batch);
      case 'heartbeat':
        return this.renewKnown(tx, run, now, batch.agents);
      case 'deregister':
        return this.remove(tx, run, now, batch);
    }
  }

  private async upsert(
    tx: EntityManager,
    run: Extract<RegistryWrite, { kind: 'register' }>[],
    now: number,
    { agents, owned, changes }: BatchState,
  ): Promise<Outcome<AgentRecord>[]> {
    // The agents were read (and on PostgreSQL locked) after the revision counter: no other batch writes them now.
    // Refused: owned by another key (403), or one agent more than the key's quota (429), in the batch's order.
    const refused = new Map<string, HttpException>();
    for (const { writer, agentId } of run) {
      const before = agents.get(agentId);
      const refusal = mayWrite(writer, before) ? owned.take(writer, before) : ownedByAnother(agentId);
      if (refusal) refused.set(agentId, refusal);
    }
    const records: AgentRecord[] = run
      .filter(({ agentId }) => !refused.has(agentId))
      .map(({ registration, writer }) => {
        const before = agents.get(registration.agentId);
        return {
          ...registration,
          owner: before?.owner ?? writer?.name ?? null,
          registeredAt: before?.registeredAt ?? now,
          lastHeartbeat: now,
          expiresAt: leaseExpiry(now, registration.ttlSeconds),
        };
      });
    if (records.length === 0) return run.map(({ agentId }) => ({ ok: false, error: refused.get(agentId)! }));
    await tx
      .createQueryBuilder(AgentRecord)
      .insert(sortedById(records))
      .onConflict('agentId')
      .merge([...REREGISTER_FIELDS])
      .execute('run');
    const refaceted: AgentRecord[] = [];
    const replacing: string[] = [];
    for (const record of records) {
      const before = agents.get(record.agentId);
      agents.set(record.agentId, record);
      if (before && !registrationChanged(before, record)) continue;
      const agent = toAgentInfo(record, now);
      changes.push(
        before
          ? { type: 'updated', agentId: record.agentId, agent, previous: toAgentInfo(before, now) }
          : { type: 'registered', agentId: record.agentId, agent },
      );
      if (!before || facetsChanged(before, record)) refaceted.push(record);
      if (before && facetsChanged(before, record)) replacing.push(record.agentId);
    }
    await writeFacets(tx, refaceted, replacing);
    const stored = new Map(records.map((record) => [record.agentId, record]));
    return run.map(({ agentId }) => {
      const value = stored.get(agentId);
      return value ? { ok: true, value } : { ok: false, error: refused.get(agentId)! };
    });
  }

  /** Heartbeats inside a batch's transaction: the agents were read, so the leases they now hold are known too. */
  private async renewKnown(
    tx: EntityManager,
    run: RegistryWrite[],
    now: number,
    agents: Agents,
  ): Promise<Outcome<Lease>[]> {
    const outcomes = await this.renew(tx, run, now, LISTED);
    outcomes.forEach((outcome, i) => {
      const agent = agents.get(run[i].agentId);
      if (outcome.ok && agent) agents.set(run[i].agentId, { ...agent, ...outcome.value });
    });
    return outcomes;
  }

  /**
   * Its time may be stamped before the row locks are held (a single statement on PostgreSQL), so a batch that waited
   * for another replica's may carry an earlier time than the one it overwrites: the renewal SQL keeps the later one
   * (leaseRenewalSql). The leading comment makes MikroORM's SQLite dialect read the RETURNING rows of raw SQL.
   */
  private async renew(
    em: EntityManager,
    run: RegistryWrite[],
    now: number,
    among: RowsAmong,
  ): Promise<Outcome<Lease>[]> {
    const ids = run.map((write) => write.agentId);
    const owned = ownedBy(run);
    const rows = await em
      .getConnection()
      .execute<{ agentId: string; lastHeartbeat: number | string; expiresAt: number | string }[]>(
        `/* heartbeat */ update agent_record set last_heartbeat = ${this.renewal.lastHeartbeat}, ` +
          `expires_at = ${this.renewal.expiresAt} where agent_id in ${among(ids)}${owned.sql} ` +
          'returning agent_id as "agentId", last_heartbeat as "lastHeartbeat", expires_at as "expiresAt"',
        [now, now, ...ids, ...owned.params],
        'all',
        em.getTransactionContext(),
      );
    const outcomes = leasesOf(ids, rows);
    // Not renewed: not registered (404), or owned by another key (403).
    const missing = ids.filter((_, i) => !outcomes[i].ok);
    if (owned.sql === '' || missing.length === 0) return outcomes;
    const present = await em
      .getConnection()
      .execute<{ agentId: string }[]>(
        `select agent_id as "agentId" from agent_record where agent_id in ${LISTED(missing)}`,
        missing,
        'all',
        em.getTransactionContext(),
      );
    const taken = new Set(present.map((row) => row.agentId));
    return outcomes.map((outcome, i) => (taken.has(ids[i]) ? { ok: false, error: ownedByAnother(ids[i]) } : outcome));
  }

  private async remove(
    tx: EntityManager,
    run: RegistryWrite[],
    now: number,
    { agents, owned, changes }: BatchState,
  ): Promise<Outcome<true>[]> {
    // As in upsert: the agents were read and are held since the revision counter.
    const refused = new Set(
      run.filter(({ writer, agentId }) => !mayWrite(writer, agents.get(agentId))).map((write) => write.agentId),
    );
    const ids = run.map((write) => write.agentId).filter((id) => !refused.has(id));
    const deleted = new Set(
      ids.length === 0
        ? []
        : (await deleteAgents(tx, 'deregister', `agent_id in ${LISTED(ids)}`, ids)).map((record) => record.agentId),
    );
    return run.map(({ agentId: id }) => {
      if (refused.has(id)) return { ok: false, error: ownedByAnother(id) };
      if (!deleted.has(id)) return { ok: false, error: agentNotFound(id) };
      const before = agents.get(id);
      agents.delete(id);
      owned.release(before?.owner);
      changes.push({ type: 'deregistered', agentId: id, previous: before && toAgentInfo(before, now) });
      return { ok: true, value: true };
    });
  }
}

/**
 * Whether a writer may overwrite, renew or delete an agent as stored: an admin key or no key at all (protected mode,
 * auth off) may write any; another key only one it owns, one nobody owns, or a new one.
 */
function mayWrite(writer: Writer, stored: AgentRecord | undefined): boolean {
  return !writer || writer.role === 'admin' || !stored?.owner || stored.owner === writer.name;
}

/**
 * The heartbeat statement's ownership condition (see mayWrite): rows nobody owns, rows of writers that may renew any,
 * and rows owned by the key that renews them.
 */
function ownedBy(run: RegistryWrite[]): { sql: string; params: string[] } {
  const checked = run.filter(({ writer }) => writer && writer.role !== 'admin');
  if (checked.length === 0) return { sql: '', params: [] };
  const free = run.filter(({ writer }) => !writer || writer.role === 'admin').map((write) => write.agentId);
  // A row value IN a VALUES list: SQLite takes no other right-hand side for a row value.
  const pairs = checked.map(() => '(?, ?)').join(', ');
  return {
    sql:
      ` and (owner is null${free.length > 0 ? ` or agent_id in ${LISTED(free)}` : ''}` +
      ` or (agent_id, owner) in (values ${pairs}))`,
    params: [...free, ...checked.flatMap(({ agentId, writer }) => [agentId, writer!.name])],
  };
}

function ownedByAnother(agentId: string): ForbiddenException {
  return new ForbiddenException(`Agent ${agentId} belongs to another API key.`);
}

/** Whether the side tables of a re-registered agent need rewriting. */
function facetsChanged(before: Registration, after: Registration): boolean {
  return (
    before.capabilities !== after.capabilities ||
    before.labels !== after.labels ||
    (before.agentCard ?? null) !== (after.agentCard ?? null)
  );
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
const LOCKED_IN_ORDER: RowsAmong = (ids) => lockedInOrder(LISTED(ids));

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

function sortedById<T extends { agentId: string }>(records: T[]): T[] {
  return [...records].sort((a, b) => (a.agentId < b.agentId ? -1 : a.agentId > b.agentId ? 1 : 0));
}

/** About what a queued registration holds in memory (JavaScript strings are UTF-16). */
function registrationBytes(registration: Registration): number {
  const text =
    registration.agentId.length +
    registration.agentName.length +
    registration.host.length +
    (registration.metadata?.length ?? 0) +
    registration.capabilities.length +
    registration.labels.length +
    (registration.agentCard?.length ?? 0) +
    registration.searchName.length +
    registration.searchText.length;
  return 2 * text + 64;
}

export function agentNotFound(agentId: string): NotFoundException {
  return new NotFoundException(`Agent not found: ${agentId}`);
}
