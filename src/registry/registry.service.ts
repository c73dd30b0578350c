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
import { APP_CONFIG } from '../config/environment';
import { RegistrySection } from './registry.config';
import { retryingConflicts } from '../database/retry-conflicts';
import { Outcome, WriteBatcher } from '../database/write-batcher';
import { ChangeFeed } from '../events/change-feed';
import { sampleOnScrape } from '../metrics/sampled-gauge';
import { lockRevision, positionAt, revisionState } from '../events/event-log';
import { AgentCardLike } from './agent-card';
import { pickedInOrder } from './agent-locks';
import type { HeldAgents } from './expiry-guard';
import { AgentRecord } from './agent-record.entity';
import { AgentSelection, Dialect, planAgentQuery, RunSql } from './agent-query';
import { agentColumns, fromRow, iso, registrationOf, storedBytes, StoredRow, toAgentInfo } from './agent-rows';
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

/**
 * A full list (`GET /agents` without `limit`): the revision it starts from, its first agents (up to LIST_CHUNK), and,
 * when more match, the rest a chunk at a time, read as they are asked for. Each agent in the form `shape` makes.
 */
export interface FullAgentList<T> {
  revision: number;
  /** That revision's position (see Position): what a watch passes as `since`. */
  position: string;
  agents: T[];
  /** Absent when `agents` is all of them. */
  rest?: AsyncGenerator<T[]>;
}

/** What a full list makes of each agent it reads: toAgentInfo, or toAgentJson (its JSON text). */
export type AgentShape<T> = (record: AgentRecord, now: number, withOwner?: boolean) => T;

/**
 * Most agents a full list reads per statement, and whether a list is sent whole: a list of LIST_CHUNK agents or
 * fewer is one read and one answer with Content-Length.
 */
export const LIST_CHUNK = 100;

/**
 * About how many bytes of stored agents a full list reads per statement after its first: LIST_CHUNK agents of 64 KiB
 * cards (the most one may register) were 6.5 MB a statement, held while the client took them. Fewer agents are read
 * per statement when the previous statement's were large (at least one).
 */
export const LIST_CHUNK_BYTES = 256 * 1024;

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
  /** The last chunk read of a full list queued so far: each waits for the one before (see listAll). */
  private chunkReads: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly em: EntityManager,
    private readonly writer: RegistryWriter,
    private readonly feed: ChangeFeed,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) config: RegistrySection,
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
   * nothing and repeats nothing. `GET /agents` without `limit` uses listAll instead.
   */
  async list(query: AgentListQuery): Promise<AgentList> {
    refuseCursorWithoutLimit(query);
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
    const { records, revision, position } = await this.readWithRevision(selection);
    const more = query.limit !== undefined && records.length > query.limit;
    const page = more ? records.slice(0, query.limit) : records;
    return {
      agents: page.map((record) => toAgentInfo(record, now, query.withOwner)),
      revision,
      position,
      next: more ? encodeCursor(page[page.length - 1].agentId, scope) : undefined,
    };
  }

  /**
   * Every agent a query matches (`limit` ignored), LIST_CHUNK at a time, so that memory stays flat however many
   * match and however slowly the client reads: the first chunk with the revision, in one transaction as list() reads
   * a page; each later one only when `rest` is read on, in a statement of its own, which lets writes (heartbeats)
   * run in between on SQLite's one connection and holds no PostgreSQL connection while the client reads. Agents of
   * later chunks may therefore reflect changes after `revision`: watching from it repeats those changes, and misses
   * none (as for the pages of a paged list). One `now` decides `is_alive` for the whole list.
   *
   * The chunks of all full lists are read one at a time, in the order asked for (inTurn): ten lists at once then
   * keep the database busy for one chunk's read at a time, not ten, and a heartbeat waits behind one chunk at most
   * (on SQLite, where every statement waits its turn on the one connection). A list waits for its turn, not a 503.
   */
  async listAll<T>(query: AgentListQuery, shape: AgentShape<T>): Promise<FullAgentList<T>> {
    refuseCursorWithoutLimit(query);
    const now = this.clock.now().getTime();
    const selection: AgentSelection = {
      filter: query.filter,
      includeDead: query.includeDead,
      now,
      limit: LIST_CHUNK + 1,
    };
    const shaped = (records: AgentRecord[]) => records.map((record) => shape(record, now, query.withOwner));
    const { records, revision, position } = await this.inTurn(() => this.readWithRevision(selection));
    if (records.length <= LIST_CHUNK) return { revision, position, agents: shaped(records) };
    const first = records.slice(0, LIST_CHUNK);
    const rest = async function* (this: RegistryService): AsyncGenerator<T[]> {
      let after = first[first.length - 1].agentId;
      let limit = chunkRows(first);
      for (;;) {
        const chunk = await this.inTurn(() => this.readAgents({ ...selection, after, limit: limit + 1 }));
        const more = chunk.length > limit;
        if (more) chunk.length = limit;
        if (chunk.length > 0) yield shaped(chunk);
        if (!more) return;
        after = chunk[chunk.length - 1].agentId;
        limit = chunkRows(chunk);
      }
    };
    return { revision, position, agents: shaped(first), rest: rest.call(this) };
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

  /** Runs `read` once every chunk read queued before it has finished. */
  private inTurn<T>(read: () => Promise<T>): Promise<T> {
    const turn = this.chunkReads.then(read);
    this.chunkReads = turn.catch(() => undefined);
    return turn;
  }

  /**
   * The registry's revision, its position, and the agents of a selection, in one transaction (on PostgreSQL, one
   * snapshot).
   */
  private readWithRevision(
    selection: AgentSelection,
  ): Promise<{ records: AgentRecord[]; revision: number; position: string }> {
    return this.em.fork().transactional(
      async (tx) => {
        const { revision } = await revisionState(tx);
        const position = await positionAt(tx, revision);
        const run = (sql: string, params: unknown[]) =>
          tx.getConnection().execute<Record<string, unknown>[]>(sql, params, 'all', tx.getTransactionContext());
        return { records: await selectAgents(selection, this.dialect, run), revision, position };
      },
      this.dialect === 'postgresql' ? { isolationLevel: IsolationLevel.REPEATABLE_READ, readOnly: true } : {},
    );
  }

  /** The agents of a selection, outside any transaction (its statements are reads; probes only pick a plan). */
  private readAgents(selection: AgentSelection): Promise<AgentRecord[]> {
    const connection = this.em.getConnection();
    return selectAgents(selection, this.dialect, (sql, params) =>
      connection.execute<Record<string, unknown>[]>(sql, params, 'all'),
    );
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
   * the others did not. The agents of `held` groups (see ExpiryGuard) stay, and only leases that ran out by `at`
   * (the instant the guard judged; now by default) go. Each chunk picks after the last row the one before took, in
   * (expires_at, agent_id) order: the rows before it were deleted or are held, and held rows, usually the oldest,
   * are not read again by every chunk.
   */
  async removeExpired(held?: HeldAgents, at?: number): Promise<string[]> {
    const now = at ?? this.clock.now().getTime();
    const keep = keepHeld(held);
    const removed: string[] = [];
    let after: { expiresAt: number; agentId: string } | undefined;
    try {
      for (;;) {
        const from = after && {
          sql: ' and expires_at >= ? and (expires_at > ? or agent_id > ?)',
          params: [after.expiresAt, after.expiresAt, after.agentId],
        };
        const picked =
          `(select agent_id from agent_record where ${CLEANUP_PICKS}${from?.sql ?? ''}${keep.sql} ` +
          'order by expires_at, agent_id limit ?)';
        const among = this.dialect === 'postgresql' ? pickedInOrder(picked) : `agent_id in ${picked}`;
        const chunk = await retryingConflicts(this.logger, 'A cleanup chunk', () =>
          this.em.fork().transactional(async (tx) => {
            const counter = await lockRevision(tx);
            const records = await deleteAgents(tx, 'cleanup', `expires_at <= ? and ${among}`, [
              now,
              now,
              ...(from?.params ?? []),
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
            return records;
          }),
        );
        removed.push(...chunk.map((record) => record.agentId));
        if (chunk.length < CLEANUP_CHUNK) return removed;
        after = chunk.reduce((last, record) => (keyAfter(record, last) ? record : last));
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      if (removed.length > 0) this.feed.wake();
    }
  }
}

/**
 * Whether `a` comes after `b` in the cleanup's (expires_at, agent_id) order. agent_id is ASCII (AGENT_ID_PATTERN),
 * compared bytewise by SQLite and by PostgreSQL (collate "C"), as by JavaScript.
 */
function keyAfter(a: AgentRecord, b: AgentRecord): boolean {
  return a.expiresAt > b.expiresAt || (a.expiresAt === b.expiresAt && a.agentId > b.agentId);
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

/** The agents of a selection, planned and read with `run`. */
async function selectAgents(selection: AgentSelection, dialect: Dialect, run: RunSql): Promise<AgentRecord[]> {
  const { sql, params } = await planAgentQuery(selection, dialect, run);
  return ((await run(sql, params)) as unknown as StoredRow[]).map(fromRow);
}

/** How many agents like `records` make about LIST_CHUNK_BYTES: between 1 and LIST_CHUNK. */
function chunkRows(records: AgentRecord[]): number {
  const bytes = records.reduce((sum, record) => sum + storedBytes(record), 0);
  return Math.max(1, Math.min(LIST_CHUNK, Math.floor((LIST_CHUNK_BYTES * records.length) / bytes)));
}

function refuseCursorWithoutLimit(query: AgentListQuery): void {
  if (query.cursor !== undefined && query.limit === undefined) {
    throw new RequestValidationException([{ field: 'cursor', in: 'query', detail: 'cursor is only valid with limit' }]);
  }
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
