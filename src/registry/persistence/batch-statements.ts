import { EntityManager } from '@mikro-orm/knex';
import { HttpException } from '@nestjs/common';
import { mayWrite } from '../../auth/ownership';
import { Outcome } from '../../database/write-batcher';
import { leaseExpiry, leaseRenewalSql } from '../lease';
import { writeFacets } from './agent-facets';
import {
  agentsWithIds,
  Lease,
  LISTED,
  LOCKED_IN_ORDER,
  ownershipCondition,
  registeredIds,
  renewLeases,
  RowsAmong,
  upsertAgents,
} from './agent.repository';
import { AgentRecord } from './agent-record.entity';
import { Registration, registrationChanged, toAgentInfo } from './agent-rows';
import { deleteAgents } from './delete-agents';
import {
  agentNotFound,
  Agents,
  BatchState,
  MAX_ROWS_PER_STATEMENT,
  ownedByAnother,
  RegistryWrite,
  RegistryWriteResult,
} from './registry-write';

type Registering = Extract<RegistryWrite, { kind: 'register' }>;

/**
 * The statements of a write batch (see RegistryWriter): one per run of writes of one kind (see statementRuns), each
 * checking ownership once per write (mayWrite: in memory on the agents the batch read, or, for heartbeats, in the
 * statement's condition), and recording the batch's events (Change) as it goes.
 */
export class BatchStatements {
  private readonly renewal: ReturnType<typeof leaseRenewalSql>;

  /** `lockRowsFirst`: PostgreSQL, where replicas share the database and rows are locked in agent_id order. */
  constructor(readonly lockRowsFirst: boolean) {
    this.renewal = leaseRenewalSql(lockRowsFirst ? 'postgresql' : 'sqlite');
  }

  /**
   * The batch's agents as stored, ordered by agent_id; on PostgreSQL also locked in that order, an order every
   * replica shares, before any statement writes them.
   */
  async readAgents(tx: EntityManager, writes: RegistryWrite[]): Promise<Agents> {
    const ids = [...new Set(writes.map((write) => write.agentId))].sort();
    const agents: Agents = new Map();
    const suffix = ' order by agent_id' + (this.lockRowsFirst ? ' for update' : '');
    for (let i = 0; i < ids.length; i += MAX_ROWS_PER_STATEMENT) {
      const chunk = ids.slice(i, i + MAX_ROWS_PER_STATEMENT);
      for (const record of await agentsWithIds(tx, chunk, suffix)) agents.set(record.agentId, record);
    }
    return agents;
  }

  /** One statement (and its side-table writes): a run of writes of one kind on distinct agents (see statementRuns). */
  write(
    tx: EntityManager,
    run: RegistryWrite[],
    now: number,
    batch: BatchState,
  ): Promise<Outcome<RegistryWriteResult>[]> {
    switch (run[0].kind) {
      case 'register':
        return this.upsert(tx, run as Registering[], now, batch);
      case 'heartbeat':
        return this.renewKnown(tx, run, now, batch.agents);
      case 'deregister':
        return this.remove(tx, run, now, batch);
    }
  }

  /** A batch of heartbeats alone: one statement, outside a transaction (see RegistryWriter.flushOnce). */
  renewAlone(em: EntityManager, run: RegistryWrite[], now: number): Promise<Outcome<Lease>[]> {
    return this.renew(em, run, now, this.lockRowsFirst ? LOCKED_IN_ORDER : LISTED);
  }

  private async upsert(
    tx: EntityManager,
    run: Registering[],
    now: number,
    { agents, owned, changes }: BatchState,
  ): Promise<Outcome<AgentRecord>[]> {
    // The agents were read (and on PostgreSQL locked) after the revision counter: no other batch writes them now.
    // Refused: owned by another key (403), or one agent more than the key's quota (429), in the batch's order.
    const refused = new Map<string, HttpException>();
    for (const { writer, agentId } of run) {
      const before = agents.get(agentId);
      const refusal = mayWrite(writer, before?.owner) ? owned.take(writer, before) : ownedByAnother(agentId);
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
    await upsertAgents(tx, records);
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
   * (leaseRenewalSql). Ownership is the statement's condition (ownershipCondition).
   */
  private async renew(
    em: EntityManager,
    run: RegistryWrite[],
    now: number,
    among: RowsAmong,
  ): Promise<Outcome<Lease>[]> {
    const ids = run.map((write) => write.agentId);
    const owned = ownershipCondition(run);
    const leases = await renewLeases(em, this.renewal, ids, now, among, owned);
    const outcomes: Outcome<Lease>[] = ids.map((id) => {
      const lease = leases.get(id);
      return lease === undefined ? { ok: false, error: agentNotFound(id) } : { ok: true, value: lease };
    });
    // Not renewed: not registered (404), or owned by another key (403).
    const missing = ids.filter((_, i) => !outcomes[i].ok);
    if (owned.sql === '' || missing.length === 0) return outcomes;
    const taken = await registeredIds(em, missing);
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
      run.filter(({ writer, agentId }) => !mayWrite(writer, agents.get(agentId)?.owner)).map((write) => write.agentId),
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

/** Whether the side tables of a re-registered agent need rewriting. */
function facetsChanged(before: Registration, after: Registration): boolean {
  return (
    before.capabilities !== after.capabilities ||
    before.labels !== after.labels ||
    (before.agentCard ?? null) !== (after.agentCard ?? null)
  );
}
