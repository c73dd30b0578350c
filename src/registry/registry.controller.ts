import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Post, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiProblemResponse } from '../common/api-problem-response.decorator';
import { DATABASE_RETRY_AFTER_SECONDS, DATABASE_UNAVAILABLE } from '../database/database-unavailable';
import { AGENT_ID_RULE, AgentIdParam, ApiAgentIdParam } from './agent-id';
import { AgentInfo } from './dto/agent-info.dto';
import { DeleteAgentResponse } from './dto/delete-agent-response.dto';
import { HeartbeatResponse } from './dto/heartbeat-response.dto';
import { ListAgentsQuery } from './dto/list-agents-query.dto';
import { RegisterAgentRequest } from './dto/register-agent.dto';
import { RegistryService } from './registry.service';

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
  constructor(private readonly registry: RegistryService) {}

  /**
   * Creates the agent, or overwrites its name, host, port, ttl and metadata if the id is already registered.
   * Either way the lease starts afresh from now; `registered_at` keeps its first value. Answered once the write is
   * committed.
   */
  @ApiOperation({ summary: 'Register an agent, or update its registration' })
  @Post('register')
  @WriteUnavailable()
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: AgentInfo, description: 'The agent as now registered.' })
  @ApiProblemResponse(400, 'Malformed JSON, a body that is not a JSON object, or invalid fields (named in `errors`).', {
    detail: 'Invalid request: port must not be greater than 65535',
    errors: [{ field: 'port', in: 'body', detail: 'port must not be greater than 65535' }],
  })
  @ApiProblemResponse(413, 'The body exceeds BODY_LIMIT.', {
    detail: 'The request body exceeds the limit of 65536 bytes.',
  })
  @ApiProblemResponse(415, 'The body is declared in a charset other than UTF-8.', {
    detail: 'unsupported charset "LATIN1"',
  })
  register(@Body() request: RegisterAgentRequest): Promise<AgentInfo> {
    return this.registry.register(request);
  }

  /**
   * Moves `expires_at` to now + `ttl_seconds`, never backwards (a replica whose clock is behind leaves a later lease
   * as it is). Also revives an agent whose lease ran out but which cleanup has not removed yet. Answered once the write
   * is committed. Any request body is ignored.
   */
  @ApiOperation({ summary: "Renew an agent's lease" })
  @Post(':agent_id/heartbeat')
  @ApiAgentIdParam()
  @WriteUnavailable()
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: HeartbeatResponse, description: 'The renewed lease.' })
  @ApiProblemResponse(400, 'The agent id breaks the agent_id rule, or the body is malformed JSON.', INVALID_ID)
  @ApiProblemResponse(404, 'No agent with this id is registered: register it again.', NOT_FOUND)
  heartbeat(@AgentIdParam() agentId: string): Promise<HeartbeatResponse> {
    return this.registry.heartbeat(agentId);
  }

  /**
   * Every live agent, ordered by `agent_id`. An agent disappears from this list the moment its lease runs out, even
   * before cleanup removes it; `include_dead=true` shows those too, with `is_alive: false`.
   */
  @ApiOperation({ summary: 'List agents' })
  @Get()
  @ReadUnavailable()
  @ApiOkResponse({ type: [AgentInfo], description: 'The matching agents.' })
  @ApiProblemResponse(400, 'An invalid query parameter.', {
    detail: 'Invalid request: include_dead must be true or false',
    errors: [{ field: 'include_dead', in: 'query', detail: 'include_dead must be true or false' }],
  })
  list(@Query() query: ListAgentsQuery): Promise<AgentInfo[]> {
    return this.registry.list(query.include_dead ?? false);
  }

  /**
   * Also answers for an agent whose lease ran out but which cleanup has not removed yet (`is_alive: false`).
   */
  @ApiOperation({ summary: 'Get one agent' })
  @Get(':agent_id')
  @ApiAgentIdParam()
  @ReadUnavailable()
  @ApiOkResponse({ type: AgentInfo, description: 'The agent.' })
  @ApiProblemResponse(400, 'The agent id breaks the agent_id rule.', INVALID_ID)
  @ApiProblemResponse(404, 'No agent with this id is registered.', NOT_FOUND)
  get(@AgentIdParam() agentId: string): Promise<AgentInfo> {
    return this.registry.get(agentId);
  }

  /**
   * Removes the agent at once, alive or not.
   */
  @ApiOperation({ summary: 'Deregister an agent' })
  @Delete(':agent_id')
  @ApiAgentIdParam()
  @WriteUnavailable()
  @ApiOkResponse({ type: DeleteAgentResponse, description: 'The agent was removed.' })
  @ApiProblemResponse(400, 'The agent id breaks the agent_id rule.', INVALID_ID)
  @ApiProblemResponse(404, 'No agent with this id is registered.', NOT_FOUND)
  deregister(@AgentIdParam() agentId: string): Promise<DeleteAgentResponse> {
    return this.registry.deregister(agentId);
  }
}
