import { ProblemDetails, RegistryError } from './errors.js';
import { Lease, LeaseOptions } from './lease.js';
import type { components } from './openapi.js';
import { AgentFilter, ListQuery, queryString } from './query.js';
import { Watch, WatchOptions, WatchUpdate } from './watch.js';

/**
 * A client for the agent registry, on `fetch` alone (Node 20+, browsers, Deno, Bun), with no NestJS in it: import it
 * as `@agent-registry/client`. The types come from the server's OpenAPI document (`npm run client:types`).
 */

export type AgentInfo = components['schemas']['AgentInfo'];
export type AgentRegistration = components['schemas']['RegisterAgentRequest'];
export type AgentEvent = components['schemas']['AgentEventData'];
export type AgentCard = NonNullable<AgentInfo['agent_card']>;

/** One answer of `GET /agents`. */
export interface AgentPage {
  agents: AgentInfo[];
  /** The registry revision the page reflects. */
  revision: number;
  /**
   * That revision's position (`X-Registry-Position`, `<revision>.<fingerprint>`): watch from it to miss nothing. A
   * watch from it hears 410 if the registry's log was replaced meanwhile (a restore, a failover to a lagging replica).
   */
  position: string;
  /** The cursor of the next page, when there is one. */
  next?: string;
}

/** Every agent that matches, from as many pages as it took (`listAll`). */
export interface AgentSnapshot extends AgentPage {
  /** The revision of the first page, the smallest; `position` is its position: watch from it to miss nothing. */
  revision: number;
  /** For each agent listed, the revision of the page it was on: the list holds its changes up to it. */
  listedAt: Map<string, number>;
}

export interface ClientOptions {
  /** The registry's base URL, e.g. `http://registry:3000`. */
  url: string;
  /** The API key, sent as `Authorization: Bearer <key>` with every request. */
  apiKey?: string;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
  /** A request that takes longer fails (default 10 s). A stream must start within it, and then runs as long as it lasts. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export class RegistryClient {
  readonly url: string;
  /** How long a request may take; a stream, how long its answer may take to start. */
  readonly timeoutMs: number;
  private readonly fetch: typeof fetch;
  private readonly headers: Record<string, string>;

  constructor(options: ClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.headers = {
      ...(options.apiKey === undefined ? {} : { Authorization: `Bearer ${options.apiKey}` }),
      ...options.headers,
    };
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /**
   * Registers the agent and keeps it registered: the lease heartbeats every ttl/3 with jitter, backs off on errors,
   * registers again after a 404, and deregisters on `close()`. Rejects if the first registration fails.
   */
  register(agent: AgentRegistration, options?: LeaseOptions): Promise<Lease> {
    return Lease.start(this, agent, options);
  }

  /** One registration (or re-registration), no lease kept. */
  registerOnce(agent: AgentRegistration): Promise<AgentInfo> {
    return this.json('POST', '/agents/register', agent);
  }

  /**
   * Lists the agents that match, then follows every change to them; resumes after a dropped connection, lists again
   * after a 410. Runs until the returned watch is closed.
   */
  watch(filter: AgentFilter, handler: (update: WatchUpdate) => void | Promise<void>, options?: WatchOptions): Watch {
    return new Watch(this, filter, handler, options);
  }

  heartbeat(agentId: string): Promise<components['schemas']['HeartbeatResponse']> {
    return this.json('POST', `/agents/${encodeURIComponent(agentId)}/heartbeat`);
  }

  deregister(agentId: string): Promise<components['schemas']['DeleteAgentResponse']> {
    return this.json('DELETE', `/agents/${encodeURIComponent(agentId)}`);
  }

  get(agentId: string): Promise<AgentInfo> {
    return this.json('GET', `/agents/${encodeURIComponent(agentId)}`);
  }

  card(agentId: string): Promise<AgentCard> {
    return this.json('GET', `/agents/${encodeURIComponent(agentId)}/card`);
  }

  /** One page with `limit`, or the whole match without it. */
  async list(query: ListQuery = {}): Promise<AgentPage> {
    const response = await this.request('GET', `/agents${queryString(query)}`);
    const agents = (await response.json()) as AgentInfo[];
    const link = /<([^>]*)>;\s*rel="next"/.exec(response.headers.get('link') ?? '');
    const next = link ? (new URL(link[1], this.url).searchParams.get('cursor') ?? undefined) : undefined;
    const revision = Number(response.headers.get('x-registry-revision'));
    // A registry from before positions sends none: its revision is resumed from unchecked.
    const position = response.headers.get('x-registry-position') ?? String(revision);
    return { agents, revision, position, next };
  }

  /**
   * Every agent that matches, page by page (`limit` per request, default 1000). Agents may change while the pages
   * are read: each page reflects the revision it was read at, and `revision` is the smallest, the first page's, so a
   * watch from it misses no change. It sees again the changes made while the later pages were read: `listedAt` says,
   * for each agent listed, the revision of its page, at which the list already holds its changes (`watch` skips them).
   * An agent is listed once: pages follow agent_id, which an agent keeps.
   */
  async listAll(query: AgentFilter & { include_dead?: boolean; limit?: number } = {}): Promise<AgentSnapshot> {
    const agents: AgentInfo[] = [];
    const listedAt = new Map<string, number>();
    let revision: number | undefined;
    let position = '';
    let cursor: string | undefined;
    do {
      const page = await this.list({ ...query, limit: query.limit ?? 1000, cursor });
      if (revision === undefined || page.revision < revision) {
        revision = page.revision;
        position = page.position;
      }
      for (const agent of page.agents) listedAt.set(agent.agent_id, page.revision);
      agents.push(...page.agents);
      cursor = page.next;
    } while (cursor !== undefined);
    return { agents, revision, position, listedAt };
  }

  /** A raw request, for the watch's stream: no timeout, the caller's signal. */
  async request(method: string, path: string, body?: unknown, init: RequestInit = {}): Promise<Response> {
    const signal = init.signal ?? AbortSignal.timeout(this.timeoutMs);
    const response = await this.fetch(`${this.url}${path}`, {
      ...init,
      method,
      signal,
      headers: {
        Accept: 'application/json',
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...this.headers,
        ...(init.headers as Record<string, string> | undefined),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw await errorOf(response);
    return response;
  }

  private async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await (await this.request(method, path, body)).json()) as T;
  }
}

async function errorOf(response: Response): Promise<RegistryError> {
  let problem: ProblemDetails | undefined;
  try {
    problem = (await response.json()) as ProblemDetails;
  } catch {
    problem = undefined;
  }
  const retryAfter = Number(response.headers.get('retry-after'));
  return new RegistryError(
    response.status,
    problem,
    Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
  );
}
