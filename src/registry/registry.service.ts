import { IsolationLevel, raw } from '@mikro-orm/core';
import { EntityManager } from '@mikro-orm/knex';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  NotFoundException,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { Counter } from 'prom-client';
import { Clock } from '../common/clock';
import { RequestValidationException } from '../common/request-validation.pipe';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { retryingConflicts } from '../database/retry-conflicts';
import { Outcome, WriteBatcher } from '../database/write-batcher';
import { ChangeFeed } from '../events/change-feed';
import { sampleOnScrape } from '../metrics/sampled-gauge';
import { lockRevision, positionAt, revisionState } from '../events/event-log';
import { AgentCardLike } from './agent-card';
import { pickedInOrder } from './agent-locks';
import { AgentRecord } from './agent-record.entity';
import { AgentSelection, Dialect, planAgentQuery } from './agent-query';
import { agentColumns, fromRow, iso, registrationOf, StoredRow, toAgentInfo } from './agent-rows';
import { deleteAgents } from './delete-agents';
import { AgentFilter } from './discovery';
import { AgentInfo } from './dto/agent-info.dto';
import { DeleteAgentResponse } from './dto/delete-agent-response.dto';
import { HeartbeatResponse } from './dto/heartbeat-response.dto';
import { RegisterAgentRequest } from './dto/register-agent.dto';
import { DEFAULT_TTL_SECONDS } from './lease';
import { cursorScope, decodeCursor, encodeCursor } from './page-cursor';
import { agentNotFound, MAX_QUEUED_BYTES, MAX_ROWS_PER_STATEMENT, RegistryWriter } from './registry-writer';
import { AGENTS, DEREGISTRATIONS, HEARTBEATS, REGISTRATIONS } from './registry.metrics';
import { Principal } from '../auth/auth.guard';
import { seesOwners } from '../auth/caller.decorator';

/** What `GET /agents` asks for. */
export interface AgentListQuery {
  filter: AgentFilter;
  includeDead: boolean;
  limit?: number;
  cursor?: string;
  /** Show each agent's owner (to admin keys). */
  withOwner?: boolean;
}

/** One answer to `GET /agents`: the agents, the registry revision they reflect, and where the next page starts. */
export interface AgentList {
  agents: AgentInfo[];
  revision: number;
  /** That revision's position (see Position): what a watch passes as `since`. */
  position: string;
  /** The cursor of the next page; absent on the last. */
  next?: string;
}

/** A stored card, as `GET /agents/{agent_id}/card` serves it. */
export interface StoredCard {
  json: string;
  card: AgentCardLike;
}

/** Most agents one cleanup statement deletes. */
export const CLEANUP_CHUNK = 500;

/**
 * Which agents a cleanup chunk may pick (binds now): one condition on agent_record, read through the expires_at
 * index. The delete re-checks `expires_at <= now` on each row it removes.
 */
export const CLEANUP_PICKS = 'expires_at <= ?';

/**
 * The registry's rules. Writes go through the group-commit writer (one statement per run of writes, never a read
 * and a write back); reads go straight to the database. Lookups of one agent that arrive together share one query:
 * on SQLite every query waits its turn on the one connection, and 50 concurrent `GET /agents/{id}` cost 50 turns.
 */
@Injectable()
export class RegistryService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly lookups: WriteBatcher<string, AgentRecord | undefined>;

  private readonly dialect: Dialect;
  private readonly logger = new Logger('Cleanup');
  private stopSampling?: () => void;

  constructor(
    private readonly em: EntityManager,
    private readonly writer: RegistryWriter,
    private readonly feed: ChangeFeed,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) config: AppConfig,
    @InjectMetric(REGISTRATIONS) private readonly registrations: Counter,
    @InjectMetric(HEARTBEATS) private readonly heartbeats: Counter,
    @InjectMetric(DEREGISTRATIONS) private readonly deregistrations: Counter,
  ) {
    this.dialect = em.getDriver() instanceof PostgreSqlDriver ? 'postgresql' : 'sqlite';
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

  /** /metrics counts the agents by state on every scrape. */
  onApplicationBootstrap(): void {
    this.stopSampling = sampleOnScrape(AGENTS, async (gauge) => {
      const { registered, active } = await this.count();
      gauge.set({ state: 'alive' }, active);
      gauge.set({ state: 'expired' }, registered - active);
    });
  }

  /** Shutdown: refuse new lookups, answer the queued ones, before the database closes. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopSampling?.();
    await this.lookups.close();
  }

  async register(request: RegisterAgentRequest, caller?: Principal): Promise<AgentInfo> {
    const record = await this.writer.register(toRegistration(request), caller);
    this.registrations.inc();
    return toAgentInfo(record, this.clock.now().getTime(), seesOwners(caller));
  }

  async heartbeat(agentId: string, caller?: Principal): Promise<HeartbeatResponse> {
    const { lastHeartbeat, expiresAt } = await this.writer.heartbeat(agentId, caller);
    this.heartbeats.inc();
    return { status: 'ok', last_heartbeat: iso(lastHeartbeat), expires_at: iso(expiresAt) };
  }

  /**
   * The agents a query matches, in agent_id order, one page of them when `limit` is given, and the revision they
   * reflect: read in one transaction (on PostgreSQL, one snapshot), so that watching from that revision misses
   * nothing and repeats nothing.
   */
  async list(query: AgentListQuery): Promise<AgentList> {
    if (query.cursor !== undefined && query.limit === undefined) {
      throw new RequestValidationException([
        { field: 'cursor', in: 'query', detail: 'cursor is only valid with limit' },
      ]);
    }
    const scope = cursorScope(query.filter, query.includeDead);
    const now = this.clock.now().getTime();
    const selection: AgentSelection = {
      filter: query.filter,
      includeDead: query.includeDead,
      now,
      after: query.cursor === undefined ? undefined : decodeCursor(query.cursor, scope),
      // One more than asked for says whether there is a next page.
      limit: query.limit === undefined ? undefined : query.limit + 1,
    };
    const { records, revision, position } = await this.em.fork().transactional(
      async (tx) => {
        const { revision } = await revisionState(tx);
        const position = await positionAt(tx, revision);
        const run = (sql: string, params: unknown[]) =>
          tx.getConnection().execute<Record<string, unknown>[]>(sql, params, 'all', tx.getTransactionContext());
        const { sql, params } = await planAgentQuery(selection, this.dialect, run);
        const rows = (await run(sql, params)) as unknown as StoredRow[];
        return { records: rows.map(fromRow), revision, position };
      },
      this.dialect === 'postgresql' ? { isolationLevel: IsolationLevel.REPEATABLE_READ, readOnly: true } : {},
    );
    const more = query.limit !== undefined && records.length > query.limit;
    const page = more ? records.slice(0, query.limit) : records;
    return {
      agents: page.map((record) => toAgentInfo(record, now, query.withOwner)),
      revision,
      position,
      next: more ? encodeCursor(page[page.length - 1].agentId, scope) : undefined,
    };
  }

  async get(agentId: string, withOwner = false): Promise<AgentInfo> {
    const record = await this.lookups.submit(agentId);
    if (!record) throw agentNotFound(agentId);
    return toAgentInfo(record, this.clock.now().getTime(), withOwner);
  }

  /** The agent's card as stored (its JSON text is what the ETag is computed over). */
  async card(agentId: string): Promise<StoredCard> {
    const record = await this.lookups.submit(agentId);
    if (!record) throw agentNotFound(agentId);
    if (!record.agentCard) throw new NotFoundException(`Agent ${agentId} has no agent card`);
    return { json: record.agentCard, card: JSON.parse(record.agentCard) as AgentCardLike };
  }

  async deregister(agentId: string, caller?: Principal): Promise<DeleteAgentResponse> {
    await this.writer.deregister(agentId, caller);
    this.deregistrations.inc();
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

  /**
   * One query for a batch of lookups: each gets its agent, or undefined. Rows as plain records, not entities: nothing
   * here needs an identity map or a per-request ORM context, so the registry registers none (see DatabaseModule).
   */
  private async findMany(ids: string[]): Promise<Outcome<AgentRecord | undefined>[]> {
    const unique = [...new Set(ids)];
    const rows = await this.em
      .getConnection()
      .execute<StoredRow[]>(
        `select ${agentColumns()} from agent_record where agent_id in (${unique.map(() => '?').join(', ')})`,
        unique,
      );
    const found = new Map(rows.map((row) => [row.agentId, fromRow(row)]));
    return ids.map((id) => ({ ok: true, value: found.get(id) }));
  }

  /**
   * Deletes every agent whose lease ran out, CLEANUP_CHUNK at a time: one statement for 100,000 agents held the event
   * loop for over 100 ms while it built their rows, and SQLite's one connection from every other write. Each chunk's
   * agents are picked through the expires_at index (in its order, with a limit: no sort of every expired row) and, on
   * PostgreSQL, locked in agent_id order as heartbeat batches lock them (see pickedInOrder), so the two cannot
   * deadlock; a deadlock or serialization failure that still happens is retried. Each chunk re-checks `expires_at` on
   * the row it deletes, so a heartbeat that commits while the chunk is being picked keeps its agent. Each chunk
   * records its `expired` events in its own transaction, and the event loop is yielded between chunks. Returns the
   * ids removed. Replicas cleaning at once take turns on the revision counter, and each deletes, and returns, what
   * the others did not. The agents of `held` groups (see ExpiryGuard) stay.
   */
  async removeExpired(held?: HeldAgents): Promise<string[]> {
    const now = this.clock.now().getTime();
    const keep = keepHeld(held);
    const picked = `(select agent_id from agent_record where ${CLEANUP_PICKS}${keep.sql} order by expires_at limit ?)`;
    const among = this.dialect === 'postgresql' ? pickedInOrder(picked) : `agent_id in ${picked}`;
    const removed: string[] = [];
    try {
      for (;;) {
        const chunk = await retryingConflicts(this.logger, 'A cleanup chunk', () =>
          this.em.fork().transactional(async (tx) => {
            const counter = await lockRevision(tx);
            const records = await deleteAgents(tx, 'cleanup', `expires_at <= ? and ${among}`, [
              now,
              now,
              ...keep.params,
              CLEANUP_CHUNK,
            ]);
            await counter.append(
              records.map((record) => ({
                type: 'expired',
                agentId: record.agentId,
                previous: toAgentInfo(record, now),
              })),
              now,
            );
            return records.map((record) => record.agentId);
          }),
        );
        removed.push(...chunk);
        if (chunk.length < CLEANUP_CHUNK) return removed;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      if (removed.length > 0) this.feed.wake();
    }
  }
}

/** Agents the cleanup keeps (see ExpiryGuard): those of these owners, and the unowned ones when `unowned`. */
export interface HeldAgents {
  owners: string[];
  unowned: boolean;
}

/** The condition the cleanup's picking query adds for `held` agents; none when nothing is held. */
function keepHeld(held: HeldAgents | undefined): { sql: string; params: string[] } {
  const owners = held?.owners ?? [];
  const notListed = owners.length === 0 ? '' : `owner not in (${owners.map(() => '?').join(', ')})`;
  if (held?.unowned) {
    return { sql: ` and owner is not null${notListed && ` and ${notListed}`}`, params: owners };
  }
  return { sql: notListed && ` and (owner is null or ${notListed})`, params: owners };
}

function toRegistration(request: RegisterAgentRequest) {
  return registrationOf({
    agentId: request.agent_id,
    agentName: request.agent_name,
    host: request.host,
    port: request.port,
    ttlSeconds: request.ttl_seconds ?? DEFAULT_TTL_SECONDS,
    metadata: request.metadata,
    capabilities: request.capabilities,
    labels: request.labels,
    agentCard: request.agent_card,
  });
}
