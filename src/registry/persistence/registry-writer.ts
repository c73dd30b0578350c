import { MikroORM } from '@mikro-orm/core';
import { EntityManager } from '@mikro-orm/knex';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { Histogram } from 'prom-client';
import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Clock } from '../../common/clock';
import type { AuthSection } from '../../auth/auth.config';
import { APP_CONFIG } from '../../config/environment';
import { dialectOf } from '../../database/dialect';
import type { RegistrySection } from '../registry.config';
import { databaseUnavailableReason } from '../../database/database-unavailable';
import { retryingConflicts } from '../../database/retry-conflicts';
import { Outcome, WriteBatcher } from '../../database/write-batcher';
import { sampleOnScrape } from '../../metrics/sampled-gauge';
import { OwnedAgents } from '../agent-quota';
import { WRITE_BATCH_SIZE, WRITE_QUEUE_DEPTH } from '../registry.metrics';
import { RegistryEvents } from '../registry-events';
import type { Lease } from './agent.repository';
import { AgentRecord } from './agent-record.entity';
import { Registration } from './agent-rows';
import { BatchStatements } from './batch-statements';
import { Change, lockRevision } from './event-log';
import {
  Agents,
  MAX_QUEUED_BYTES,
  RegistryWrite,
  RegistryWriteResult,
  statementRuns,
  Writer,
  writeBytes,
} from './registry-write';

export type { Registration } from './agent-rows';

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
  private readonly statements: BatchStatements;
  private stopSampling?: () => void;

  constructor(
    private readonly orm: MikroORM,
    private readonly clock: Clock,
    private readonly events: RegistryEvents,
    @Inject(APP_CONFIG) private readonly config: RegistrySection & AuthSection,
    @InjectMetric(WRITE_BATCH_SIZE) batchSize: Histogram,
  ) {
    this.batcher = new WriteBatcher({
      flush: (writes) => this.flush(writes),
      maxBatch: config.writeBatchMax,
      maxQueue: config.writeQueueMax,
      maxQueueBytes: MAX_QUEUED_BYTES,
      sizeOf: writeBytes,
      failsWholeBatch: (error) => databaseUnavailableReason(error) !== undefined,
      onBatch: (size) => batchSize.observe(size),
    });
    this.statements = new BatchStatements(dialectOf(orm.config.getDriver()) === 'postgresql');
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
      return this.statements.renewAlone(em, runs[0], this.clock.now().getTime());
    }
    let committed: { changes: Change[]; revision: number; at: number } | undefined;
    const outcomes = await em.transactional(async (tx) => {
      const counter = writes.some((write) => write.kind !== 'heartbeat') ? await lockRevision(tx) : undefined;
      // Heartbeats alone record nothing, and on SQLite need no read first.
      const agents: Agents =
        counter || this.statements.lockRowsFirst
          ? await this.statements.readAgents(tx, writes)
          : new Map<string, AgentRecord>();
      // Counted once the revision counter is held: no other batch registers until this one commits. Only for keys
      // that may gain an agent here: re-registering an agent the key owns is never counted (OwnedAgents.take), and
      // counting a key's agents reads an index entry for each of them, under the write lock.
      const registering = writes
        .filter((write) => write.kind === 'register' && agents.get(write.agentId)?.owner !== write.writer?.name)
        .map((write) => write.writer);
      const owned = await OwnedAgents.count(tx, registering, this.config);
      // Stamped once the locks are held: a batch that waited for another replica's writes never writes older times.
      const now = this.clock.now().getTime();
      const changes: Change[] = [];
      const outcomes: Outcome<RegistryWriteResult>[] = [];
      for (const run of runs) outcomes.push(...(await this.statements.write(tx, run, now, { agents, owned, changes })));
      if (counter && changes.length > 0) committed = { changes, revision: await counter.append(changes, now), at: now };
      return outcomes;
    });
    if (committed) this.events.committed(committed.changes, committed.revision, committed.at);
    return outcomes;
  }
}
