import { EntityManager } from '@mikro-orm/knex';
import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  NotFoundException,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { Counter } from 'prom-client';
import { Principal } from '../auth/auth.guard';
import { seesOwners } from '../auth/ownership';
import { Clock } from '../common/clock';
import { APP_CONFIG } from '../config/environment';
import { Dialect, dialectOf } from '../database/dialect';
import { RegistrySection } from './registry.config';
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
import { cursorScope, decodeCursor, encodeCursor } from './page-cursor';
import { agentsOf, agentsWithRevision, countAgents } from './persistence/agent.repository';
import { AgentLookups } from './persistence/agent-lookups';
import { AgentSelection } from './persistence/agent-query';
import { AgentRecord } from './persistence/agent-record.entity';
import { iso, registrationOfRequest, toAgentInfo } from './persistence/agent-rows';
import { agentNotFound } from './persistence/registry-write';
import { RegistryWriter } from './persistence/registry-writer';
import { AGENTS, DEREGISTRATIONS, HEARTBEATS, REGISTRATIONS } from './registry.metrics';
import { RegistrationPolicies } from './registration-policy';

/** A stored card, as `GET /agents/{agent_id}/card` serves it: its JSON text, which the ETag is computed over. */
export interface StoredCard {
  json: string;
}

/**
 * The registry's rules. Writes go through the group-commit writer (one statement per run of writes, never a read
 * and a write back); reads go straight to the database, lookups of one agent batched (AgentLookups).
 */
@Injectable()
export class RegistryService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly lookups: AgentLookups;
  private readonly dialect: Dialect;
  private stopSampling?: () => void;
  /** The last chunk read of a full list queued so far: each waits for the one before (see listAll). */
  private chunkReads: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly em: EntityManager,
    private readonly writer: RegistryWriter,
    private readonly policies: RegistrationPolicies,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) config: RegistrySection,
    @InjectMetric(REGISTRATIONS) private readonly registrations: Counter,
    @InjectMetric(HEARTBEATS) private readonly heartbeats: Counter,
    @InjectMetric(DEREGISTRATIONS) private readonly deregistrations: Counter,
  ) {
    this.dialect = dialectOf(em.getDriver());
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
    const reviewed = await this.policies.review(request, caller);
    const record = await this.writer.register(registrationOfRequest(reviewed), caller);
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
        const chunk = await this.inTurn(() =>
          agentsOf(this.em, { ...selection, after, limit: limit + 1 }, this.dialect),
        );
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

  /** Runs `read` once every chunk read queued before it has finished. */
  private inTurn<T>(read: () => Promise<T>): Promise<T> {
    const turn = this.chunkReads.then(read);
    this.chunkReads = turn.catch(() => undefined);
    return turn;
  }
}
