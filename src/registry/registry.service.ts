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
import { Principal } from '../auth/auth.guard';
import { seesOwners } from '../auth/ownership';
import { Clock } from '../common/clock';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { retryingConflicts } from '../database/retry-conflicts';
import { ChangeFeed } from '../events/change-feed';
import { sampleOnScrape } from '../metrics/sampled-gauge';
import {
  AgentList,
  AgentListQuery,
  AgentShape,
  chunkRows,
  FullAgentList,
  LIST_CHUNK,
  refuseCursorWithoutLimit,
} from './agent-list';
import { DeleteAgentResponse } from './dto/delete-agent-response.dto';
import { AgentInfo } from './dto/agent-info.dto';
import { HeartbeatResponse } from './dto/heartbeat-response.dto';
import { RegisterAgentRequest } from './dto/register-agent.dto';
import type { HeldAgents } from './expiry-guard';
import { cursorScope, decodeCursor, encodeCursor } from './page-cursor';
import { agentsOf, agentsWithRevision, countAgents } from './persistence/agent.repository';
import { pickedInOrder } from './persistence/agent-locks';
import { AgentLookups } from './persistence/agent-lookups';
import { AgentSelection, Dialect } from './persistence/agent-query';
import { AgentRecord } from './persistence/agent-record.entity';
import { iso, registrationOfRequest, toAgentInfo } from './persistence/agent-rows';
import { deleteAgents } from './persistence/delete-agents';
import { lockRevision } from './persistence/event-log';
import { agentNotFound } from './persistence/registry-write';
import { RegistryWriter } from './persistence/registry-writer';
import { AGENTS, DEREGISTRATIONS, HEARTBEATS, REGISTRATIONS } from './registry.metrics';

/** A stored card, as `GET /agents/{agent_id}/card` serves it: its JSON text, which the ETag is computed over. */
export interface StoredCard {
  json: string;
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
 * and a write back); reads go straight to the database, lookups of one agent batched (AgentLookups).
 */
@Injectable()
export class RegistryService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly lookups: AgentLookups;
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
    @Inject(APP_CONFIG) config: AppConfig,
    @InjectMetric(REGISTRATIONS) private readonly registrations: Counter,
    @InjectMetric(HEARTBEATS) private readonly heartbeats: Counter,
    @InjectMetric(DEREGISTRATIONS) private readonly deregistrations: Counter,
  ) {
    this.dialect = em.getDriver() instanceof PostgreSqlDriver ? 'postgresql' : 'sqlite';
    this.lookups = new AgentLookups(em, config.writeQueueMax);
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
    const record = await this.writer.register(registrationOfRequest(request), caller);
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
    const { records, revision, position } = await agentsWithRevision(this.em, selection, this.dialect);
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
    const { records, revision, position } = await this.inTurn(() =>
      agentsWithRevision(this.em, selection, this.dialect),
    );
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
    const record = await this.lookups.find(agentId);
    if (!record) throw agentNotFound(agentId);
    return toAgentInfo(record, this.clock.now().getTime(), withOwner);
  }

  /** The agent's card as stored (its JSON text is what the ETag is computed over). */
  async card(agentId: string): Promise<StoredCard> {
    const record = await this.lookups.find(agentId);
    if (!record) throw agentNotFound(agentId);
    if (!record.agentCard) throw new NotFoundException(`Agent ${agentId} has no agent card`);
    return { json: record.agentCard };
  }

  async deregister(agentId: string, caller?: Principal): Promise<DeleteAgentResponse> {
    await this.writer.deregister(agentId, caller);
    this.deregistrations.inc();
    return { status: 'deleted', agent_id: agentId };
  }

  /** How many agents are registered, and how many of those hold a running lease: one consistent read. */
  count(): Promise<{ registered: number; active: number }> {
    return countAgents(this.em, this.clock.now().getTime());
  }

  /** The agents of a selection, outside any transaction (see agentsOf). */
  private readAgents(selection: AgentSelection): Promise<AgentRecord[]> {
    return agentsOf(this.em, selection, this.dialect);
  }

  /** Runs `read` once every chunk read queued before it has finished. */
  private inTurn<T>(read: () => Promise<T>): Promise<T> {
    const turn = this.chunkReads.then(read);
    this.chunkReads = turn.catch(() => undefined);
    return turn;
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
