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
import { ApiHeader, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Access } from '../auth/access.decorator';
import { Principal } from '../auth/auth.guard';
import { Caller } from '../auth/caller.decorator';
import { seesOwners } from '../auth/ownership';
import { HeartbeatLimited } from '../auth/rate-limit';
import { AgentIdParam, ApiAgentIdParam } from './agent-id';
import { AgentInfo } from './dto/agent-info.dto';
import { DeleteAgentResponse } from './dto/delete-agent-response.dto';
import { HeartbeatResponse } from './dto/heartbeat-response.dto';
import { ListAgentsQuery } from './dto/list-agents-query.dto';
import { RegisterAgentRequest } from './dto/register-agent.dto';
import {
  ApiCardResponses,
  ApiDeregisterResponses,
  ApiGetResponses,
  ApiHeartbeatResponses,
  ApiListResponses,
  ApiRegisterResponses,
  ApiUnexpectedError,
} from './registry.openapi';
import { replyWithCard, replyWithList } from './registry.replies';
import { RegistryService } from './registry.service';

@ApiTags('agents')
@ApiUnexpectedError()
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
  @HttpCode(HttpStatus.OK)
  @ApiRegisterResponses()
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
  @HttpCode(HttpStatus.OK)
  @ApiHeartbeatResponses()
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
  @ApiListResponses()
  list(
    @Query() query: ListAgentsQuery,
    @Res({ passthrough: true }) response: unknown,
    @Caller() caller?: Principal,
  ): Promise<AgentInfo[] | string | StreamableFile> {
    return replyWithList(this.registry, this.adapterHost.httpAdapter, query, response, caller);
  }

  /**
   * Also answers for an agent whose lease ran out but which cleanup has not removed yet (`is_alive: false`).
   */
  @ApiOperation({ operationId: 'getAgent', summary: 'Get one agent' })
  @Get(':agent_id')
  @Access('read')
  @ApiAgentIdParam()
  @ApiGetResponses()
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
  @ApiCardResponses()
  card(
    @AgentIdParam() agentId: string,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res() response: unknown,
  ): Promise<void> {
    return replyWithCard(this.registry, this.adapterHost.httpAdapter, agentId, ifNoneMatch, response);
  }

  /**
   * Removes the agent at once, alive or not.
   */
  @ApiOperation({ operationId: 'deregisterAgent', summary: 'Deregister an agent' })
  @Delete(':agent_id')
  @Access('write')
  @ApiAgentIdParam()
  @ApiDeregisterResponses()
  deregister(@AgentIdParam() agentId: string, @Caller() caller?: Principal): Promise<DeleteAgentResponse> {
    return this.registry.deregister(agentId, caller);
  }
}
