import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  HttpStatus,
  Post,
  Query,
  Res,
  StreamableFile,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { ApiHeader, ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { createHash } from 'node:crypto';
import { ApiProblemResponse } from '../common/api-problem-response.decorator';
import { DATABASE_RETRY_AFTER_SECONDS, DATABASE_UNAVAILABLE } from '../database/database-unavailable';
import { AGENT_ID_RULE, AgentIdParam, ApiAgentIdParam } from './agent-id';
import { AgentInfo } from './dto/agent-info.dto';
import { DeleteAgentResponse } from './dto/delete-agent-response.dto';
import { HeartbeatResponse } from './dto/heartbeat-response.dto';
import { agentFilterOf } from './dto/agent-filter-query.dto';
import { ListAgentsQuery } from './dto/list-agents-query.dto';
import { EXAMPLE_AGENT_CARD } from './agent-card';
import { RegisterAgentRequest } from './dto/register-agent.dto';
import { RegistryService } from './registry.service';
import { toAgentJson } from './agent-rows';
import { jsonArrayText, streamJsonArray } from './json-array-stream';
import { Access } from '../auth/access.decorator';
import { Principal } from '../auth/auth.guard';
import { Caller, seesOwners } from '../auth/caller.decorator';
import { HeartbeatLimited } from '../auth/rate-limit';
import { POSITION_HEADER, REVISION_HEADER } from './registry-headers';

const INVALID_ID = {
  detail: `Invalid request: ${AGENT_ID_RULE}`,
  errors: [{ field: 'agent_id', in: 'path' as const, detail: AGENT_ID_RULE }],
};
const NOT_FOUND = { detail: 'Agent not found: planner-7' };
const RETRY_AFTER = {
  'Retry-After': {
    description: 'Seconds to wait before retrying.',
    schema: { type: 'integer', example: DATABASE_RETRY_AFTER_SECONDS },
  },
};

/** 503 on a read: the database, or (for lookups of one agent, which share queries) the lookup queue. */
const ReadUnavailable = () =>
  ApiProblemResponse(
    503,
    'The database cannot be reached, is restarting, or did not answer within its timeouts (`Retry-After: 5`); or, ' +
      'for `GET /agents/{agent_id}`, WRITE_QUEUE_MAX lookups are already waiting, or the registry is shutting down ' +
      '(`Retry-After: 1`).',
    { detail: DATABASE_UNAVAILABLE },
    RETRY_AFTER,
  );

/** 503 on a write: the database, or the write queue. */
const WriteUnavailable = () =>
  ApiProblemResponse(
    503,
    'The database cannot be reached, is restarting, or did not answer within its timeouts (`Retry-After: 5`); ' +
      'or WRITE_QUEUE_MAX writes are already waiting, or the registry is shutting down (`Retry-After: 1`). The ' +
      'write may or may not have been stored: every write can be repeated safely.',
    { detail: DATABASE_UNAVAILABLE },
    RETRY_AFTER,
  );

@ApiTags('agents')
@ApiProblemResponse(500, 'An unexpected error; the log has the cause, the body says nothing about it.', {
  detail: 'An unexpected error occurred.',
})
@Controller('agents')
export class RegistryController {
  constructor(
    private readonly registry: RegistryService,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  /**
   * Creates the agent, or overwrites its name, host, port, ttl, metadata, capabilities, labels and card if the id is
   * already registered. Either way the lease starts afresh from now; `registered_at` keeps its first value. Answered
   * once the write is committed. A new agent, or a re-registration that changes anything but the lease, is an event
   * of `GET /events`.
   */
  @ApiOperation({ operationId: 'registerAgent', summary: 'Register an agent, or update its registration' })
  @Post('register')
  @Access('write')
  @WriteUnavailable()
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: AgentInfo, description: 'The agent as now registered.' })
  @ApiProblemResponse(
    400,
    'Malformed JSON, a body that is not a JSON object, invalid fields (named in `errors`), members nested more ' +
      'than 64 levels deep or shaped to pollute prototypes (`__proto__`, `constructor.prototype`), a Content-Type ' +
      'that is not a media type, or a compressed body that does not decode.',
    {
      detail: 'Invalid request: port must be an integer between 1 and 65535',
      errors: [{ field: 'port', in: 'body', detail: 'port must be an integer between 1 and 65535' }],
    },
  )
  @ApiProblemResponse(413, 'The body exceeds BODY_LIMIT, as sent or once decompressed.', {
    detail: 'The request body exceeds the limit of 131072 bytes.',
  })
  @ApiProblemResponse(
    429,
    'A new agent for a key that already owns as many as its quota allows: AGENT_QUOTA (10000), or its own `agents=` ' +
      'in the keys file; admin keys have none. Re-registering an agent the key owns is never refused. Nothing is ' +
      'stored. No `Retry-After`: deregister agents of the key (or wait for cleanup to remove expired ones) first.',
    {
      detail: 'Key planner-fleet owns 10000 agents, its AGENT_QUOTA: deregister agents or ask for a larger quota.',
    },
  )
  @ApiProblemResponse(
    415,
    'The body is declared in a charset other than UTF-8, or in a Content-Encoding other than gzip, deflate or br.',
    {
      detail: 'unsupported charset "LATIN1"',
    },
  )
  register(@Body() request: RegisterAgentRequest, @Caller() caller?: Principal): Promise<AgentInfo> {
    return this.registry.register(request, caller);
  }

  /**
   * Moves `expires_at` to now + `ttl_seconds`, never backwards (a replica whose clock is behind leaves a later lease
   * as it is). Also revives an agent whose lease ran out but which cleanup has not removed yet. Answered once the write
   * is committed. Any request body is ignored.
   */
  @ApiOperation({ operationId: 'renewLease', summary: "Renew an agent's lease" })
  @Post(':agent_id/heartbeat')
  @Access('write')
  @HeartbeatLimited()
  @ApiAgentIdParam()
  @WriteUnavailable()
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: HeartbeatResponse, description: 'The renewed lease.' })
  @ApiProblemResponse(400, 'The agent id breaks the agent_id rule, or the body is malformed JSON.', INVALID_ID)
  @ApiProblemResponse(404, 'No agent with this id is registered: register it again.', NOT_FOUND)
  heartbeat(@AgentIdParam() agentId: string, @Caller() caller?: Principal): Promise<HeartbeatResponse> {
    return this.registry.heartbeat(agentId, caller);
  }

  /**
   * Every live agent that matches the filters, ordered by `agent_id`. An agent disappears from this list the moment
   * its lease runs out, even before cleanup removes it; `include_dead=true` shows those too, with `is_alive: false`.
   * With `limit`, one page: follow the `Link` header's `rel="next"` for the next (pages are by agent_id, so agents
   * registered or removed meanwhile never make a page skip or repeat another page's agents). `X-Registry-Revision`
   * says which revision of the registry the answer shows, and `X-Registry-Position` names it with the fingerprint of
   * its event: `GET /events?since=` that position misses no change after it (for a paged list, use the first
   * page's), and answers 410 if the log was replaced meanwhile (a restore, a failover to a replica that lagged).
   * Without `limit`, a list of more than 100 agents is sent as it is read, a chunk at a time (100 agents, or fewer
   * when they are large: about 256 KiB; chunked, without `Content-Length`): agents after the first 100 may show
   * changes made after `X-Registry-Revision`, which watching from it then repeats. A failure after the answer has
   * begun closes the connection before the closing `]`.
   */
  @ApiOperation({ operationId: 'listAgents', summary: 'List and find agents' })
  @Get()
  @Access('read')
  @ReadUnavailable()
  @ApiOkResponse({
    type: [AgentInfo],
    description: 'The matching agents (one page of them with `limit`).',
    headers: {
      [REVISION_HEADER]: {
        description: 'The registry revision this answer reflects.',
        schema: { type: 'integer', example: 1042 },
      },
      [POSITION_HEADER]: {
        description:
          'That revision as a position, `<revision>.<fingerprint>` (the fingerprint of the event at it; `0` for an ' +
          'empty log, the revision alone if its event is not in the log): watch from it with `GET /events?since=`.',
        schema: { type: 'string', example: '1042.9f3ab2c1' },
      },
      Link: {
        description: 'With `limit`, when more agents match: the next page, as `<…>; rel="next"`.',
        schema: { type: 'string', example: '</agents?capability=planning&limit=100&cursor=WyJ2MSIs…>; rel="next"' },
      },
    },
  })
  @ApiProblemResponse(400, 'An invalid query parameter, or a cursor this registry did not make for this query.', {
    detail: 'Invalid request: limit must be an integer between 1 and 1000',
    errors: [{ field: 'limit', in: 'query', detail: 'limit must be an integer between 1 and 1000' }],
  })
  async list(
    @Query() query: ListAgentsQuery,
    @Res({ passthrough: true }) response: unknown,
    @Caller() caller?: Principal,
  ): Promise<AgentInfo[] | string | StreamableFile> {
    const listQuery = {
      filter: agentFilterOf(query),
      includeDead: query.include_dead ?? false,
      limit: query.limit,
      cursor: query.cursor,
      withOwner: seesOwners(caller),
    };
    const { httpAdapter } = this.adapterHost;
    if (query.limit === undefined) {
      const { agents, revision, position, rest } = await this.registry.listAll(listQuery, toAgentJson);
      httpAdapter.setHeader(response, REVISION_HEADER, String(revision));
      httpAdapter.setHeader(response, POSITION_HEADER, position);
      if (rest) return streamJsonArray(agents, rest);
      httpAdapter.setHeader(response, 'Content-Type', 'application/json; charset=utf-8');
      return jsonArrayText(agents);
    }
    const { agents, revision, position, next } = await this.registry.list(listQuery);
    httpAdapter.setHeader(response, REVISION_HEADER, String(revision));
    httpAdapter.setHeader(response, POSITION_HEADER, position);
    if (next !== undefined) httpAdapter.setHeader(response, 'Link', `<${nextPageUrl(query, next)}>; rel="next"`);
    return agents;
  }

  /**
   * Also answers for an agent whose lease ran out but which cleanup has not removed yet (`is_alive: false`).
   */
  @ApiOperation({ operationId: 'getAgent', summary: 'Get one agent' })
  @Get(':agent_id')
  @Access('read')
  @ApiAgentIdParam()
  @ReadUnavailable()
  @ApiOkResponse({ type: AgentInfo, description: 'The agent.' })
  @ApiProblemResponse(400, 'The agent id breaks the agent_id rule.', INVALID_ID)
  @ApiProblemResponse(404, 'No agent with this id is registered.', NOT_FOUND)
  get(@AgentIdParam() agentId: string, @Caller() caller?: Principal): Promise<AgentInfo> {
    return this.registry.get(agentId, seesOwners(caller));
  }

  /**
   * The agent's A2A Agent Card exactly as registered, with an `ETag` (answers `If-None-Match` with 304) and
   * `Cache-Control: no-cache`: caches keep it, and ask again each time, which costs a 304 while the card is unchanged.
   */
  @ApiOperation({ operationId: 'getAgentCard', summary: "Get an agent's A2A Agent Card" })
  @Get(':agent_id/card')
  @Access('read')
  @ApiAgentIdParam()
  @ApiHeader({
    name: 'If-None-Match',
    required: false,
    description: 'The ETag of a copy the client holds: 304 if the card is unchanged.',
    schema: { type: 'string', example: '"c2hhMjU2LWNhcmQ"' },
  })
  @ReadUnavailable()
  @ApiOkResponse({
    description: 'The card.',
    schema: { type: 'object', additionalProperties: true, example: EXAMPLE_AGENT_CARD },
    headers: {
      ETag: {
        description: 'Changes whenever the card does.',
        schema: { type: 'string', example: '"c2hhMjU2LWNhcmQ"' },
      },
      'Cache-Control': { schema: { type: 'string', example: 'no-cache' } },
    },
  })
  @ApiResponse({ status: 304, description: 'The card matches `If-None-Match`; no body.' })
  @ApiProblemResponse(400, 'The agent id breaks the agent_id rule.', INVALID_ID)
  @ApiProblemResponse(404, 'No agent with this id is registered, or it registered no card.', {
    detail: 'Agent planner-7 has no agent card',
  })
  async card(
    @AgentIdParam() agentId: string,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res() response: unknown,
  ): Promise<void> {
    const { json } = await this.registry.card(agentId);
    const etag = `"${createHash('sha256').update(json).digest('base64url').slice(0, 27)}"`;
    const { httpAdapter } = this.adapterHost;
    httpAdapter.setHeader(response, 'ETag', etag);
    httpAdapter.setHeader(response, 'Cache-Control', 'no-cache');
    if (ifNoneMatch !== undefined && etagMatches(ifNoneMatch, etag)) {
      httpAdapter.reply(response, undefined, HttpStatus.NOT_MODIFIED);
      return;
    }
    httpAdapter.setHeader(response, 'Content-Type', 'application/json; charset=utf-8');
    httpAdapter.reply(response, json, HttpStatus.OK);
  }

  /**
   * Removes the agent at once, alive or not.
   */
  @ApiOperation({ operationId: 'deregisterAgent', summary: 'Deregister an agent' })
  @Delete(':agent_id')
  @Access('write')
  @ApiAgentIdParam()
  @WriteUnavailable()
  @ApiOkResponse({ type: DeleteAgentResponse, description: 'The agent was removed.' })
  @ApiProblemResponse(400, 'The agent id breaks the agent_id rule.', INVALID_ID)
  @ApiProblemResponse(404, 'No agent with this id is registered.', NOT_FOUND)
  deregister(@AgentIdParam() agentId: string, @Caller() caller?: Principal): Promise<DeleteAgentResponse> {
    return this.registry.deregister(agentId, caller);
  }
}

/** The same query, starting at `cursor`: a relative reference, so it is right behind any proxy that kept the path. */
function nextPageUrl(query: ListAgentsQuery, cursor: string): string {
  const params = new URLSearchParams();
  for (const capability of query.capability ?? []) params.append('capability', capability);
  for (const label of query.label ?? []) params.append('label', label);
  for (const name of ['skill', 'name', 'q'] as const) {
    const value = query[name];
    if (value !== undefined) params.append(name, value);
  }
  if (query.include_dead) params.append('include_dead', 'true');
  params.append('limit', String(query.limit));
  params.append('cursor', cursor);
  return `/agents?${params.toString()}`;
}

/** If-None-Match (RFC 9110 §13.1.2): `*`, or a list of entity tags compared weakly. */
function etagMatches(header: string, etag: string): boolean {
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}
