import { FilterQuery, raw } from '@mikro-orm/core';
import { EntityManager } from '@mikro-orm/knex';
import { BeforeApplicationShutdown, Inject, Injectable } from '@nestjs/common';
import { Clock } from '../common/clock';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { Outcome, WriteBatcher } from '../database/write-batcher';
import { AgentRecord } from './agent-record.entity';
import { deleteAgentsReturningIds } from './delete-agents';
import { AgentInfo } from './dto/agent-info.dto';
import { DeleteAgentResponse } from './dto/delete-agent-response.dto';
import { HeartbeatResponse } from './dto/heartbeat-response.dto';
import { RegisterAgentRequest } from './dto/register-agent.dto';
import { DEFAULT_TTL_SECONDS, isAlive } from './lease';
import {
  agentNotFound,
  MAX_QUEUED_BYTES,
  MAX_ROWS_PER_STATEMENT,
  Registration,
  RegistryWriter,
} from './registry-writer';

/** Most agents one cleanup statement deletes. */
export const CLEANUP_CHUNK = 2000;

/**
 * The registry's rules. Writes go through the group-commit writer (one statement per run of writes, never a read
 * and a write back); reads go straight to the database. Lookups of one agent that arrive together share one query:
 * on SQLite every query waits its turn on the one connection, and 50 concurrent `GET /agents/{id}` cost 50 turns.
 */
@Injectable()
export class RegistryService implements BeforeApplicationShutdown {
  private readonly lookups: WriteBatcher<string, AgentRecord | undefined>;

  constructor(
    private readonly em: EntityManager,
    private readonly writer: RegistryWriter,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.lookups = new WriteBatcher({
      flush: (ids) => this.findMany(ids),
      maxBatch: MAX_ROWS_PER_STATEMENT,
      maxQueue: config.writeQueueMax,
      maxQueueBytes: MAX_QUEUED_BYTES,
      sizeOf: (id) => 2 * id.length,
      // A read has no error of its own: whatever failed, failed for all of them.
      failsWholeBatch: () => true,
    });
  }

  /** Shutdown: refuse new lookups, answer the queued ones, before the database closes. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.lookups.close();
  }

  async register(request: RegisterAgentRequest): Promise<AgentInfo> {
    const record = await this.writer.register(toRegistration(request));
    return toAgentInfo(record, this.clock.now().getTime());
  }

  async heartbeat(agentId: string): Promise<HeartbeatResponse> {
    const { lastHeartbeat, expiresAt } = await this.writer.heartbeat(agentId);
    return { status: 'ok', last_heartbeat: iso(lastHeartbeat), expires_at: iso(expiresAt) };
  }

  async list(includeDead: boolean): Promise<AgentInfo[]> {
    const now = this.clock.now().getTime();
    const records = await this.select(includeDead ? {} : { expiresAt: { $gt: now } });
    return records.map((record) => toAgentInfo(record, now));
  }

  async get(agentId: string): Promise<AgentInfo> {
    const record = await this.lookups.submit(agentId);
    if (!record) throw agentNotFound(agentId);
    return toAgentInfo(record, this.clock.now().getTime());
  }

  async deregister(agentId: string): Promise<DeleteAgentResponse> {
    await this.writer.deregister(agentId);
    return { status: 'deleted', agent_id: agentId };
  }

  /** How many agents are registered, and how many of those hold a running lease: one consistent read. */
  async count(): Promise<{ registered: number; active: number }> {
    const now = this.clock.now().getTime();
    const [counts] = await this.em
      .createQueryBuilder(AgentRecord)
      .select([
        raw('count(*) as registered'),
        raw('coalesce(sum(case when expires_at > ? then 1 else 0 end), 0) as active', [now]),
      ])
      .execute<{ registered: number | string; active: number | string }[]>('all', false);
    // PostgreSQL answers bigint aggregates as strings.
    return { registered: Number(counts.registered), active: Number(counts.active) };
  }

  /** One query for a batch of lookups: each gets its agent, or undefined. */
  private async findMany(ids: string[]): Promise<Outcome<AgentRecord | undefined>[]> {
    const found = new Map((await this.select({ agentId: { $in: [...new Set(ids)] } })).map((r) => [r.agentId, r]));
    return ids.map((id) => ({ ok: true, value: found.get(id) }));
  }

  /**
   * Rows as plain records, ordered by agent_id: a query, not entities. Nothing here needs an identity map or a
   * per-request ORM context, so the registry registers none (see DatabaseModule).
   */
  private async select(where: FilterQuery<AgentRecord>): Promise<AgentRecord[]> {
    const rows = await this.em
      .createQueryBuilder(AgentRecord)
      .select('*')
      .where(where)
      .orderBy({ agentId: 'asc' })
      .execute<StoredRow[]>('all');
    return rows.map(fromRow);
  }

  /**
   * Deletes every agent whose lease ran out, CLEANUP_CHUNK at a time: one statement for 100,000 agents held the event
   * loop for over 100 ms while it built their rows, and SQLite's one connection from every other write. Each chunk
   * re-checks `expires_at` on the row it deletes, so a heartbeat that commits while the chunk is being picked keeps
   * its agent. Returns the ids removed. Replicas cleaning at once each delete, and return, what the others did not;
   * one that finds its chunk taken by another stops and leaves the rest to it.
   */
  async removeExpired(): Promise<string[]> {
    const now = this.clock.now().getTime();
    const removed: string[] = [];
    for (;;) {
      const chunk = await deleteAgentsReturningIds(
        this.em,
        'cleanup',
        'expires_at <= ? and agent_id in (select agent_id from agent_record where expires_at <= ? limit ?)',
        [now, now, CLEANUP_CHUNK],
      );
      removed.push(...chunk);
      if (chunk.length < CLEANUP_CHUNK) return removed;
    }
  }
}

function toRegistration(request: RegisterAgentRequest): Registration {
  return {
    agentId: request.agent_id,
    agentName: request.agent_name,
    host: request.host,
    port: request.port,
    ttlSeconds: request.ttl_seconds ?? DEFAULT_TTL_SECONDS,
    metadata: request.metadata ?? null,
  };
}

/** A row as the query builder maps it: PostgreSQL answers bigint columns as strings. */
type StoredRow = Omit<AgentRecord, 'registeredAt' | 'lastHeartbeat' | 'expiresAt'> &
  Record<'registeredAt' | 'lastHeartbeat' | 'expiresAt', number | string>;

function fromRow(row: StoredRow): AgentRecord {
  return {
    ...row,
    registeredAt: Number(row.registeredAt),
    lastHeartbeat: Number(row.lastHeartbeat),
    expiresAt: Number(row.expiresAt),
  };
}

function toAgentInfo(record: AgentRecord, now: number): AgentInfo {
  return {
    agent_id: record.agentId,
    agent_name: record.agentName,
    host: record.host,
    port: record.port,
    ttl_seconds: record.ttlSeconds,
    metadata: record.metadata ?? null,
    registered_at: iso(record.registeredAt),
    last_heartbeat: iso(record.lastHeartbeat),
    expires_at: iso(record.expiresAt),
    is_alive: isAlive(record.expiresAt, now),
  };
}

function iso(epochMillis: number): string {
  return new Date(epochMillis).toISOString();
}
