import { applyDecorators } from '@nestjs/common';
import { ApiOkResponse, ApiResponse } from '@nestjs/swagger';
import { ApiProblemResponse } from '../common/api-problem-response.decorator';
import { DATABASE_RETRY_AFTER_SECONDS, DATABASE_UNAVAILABLE } from '../database/database-unavailable';
import { AGENT_ID_RULE } from './agent-id';
import { EXAMPLE_AGENT_CARD } from './agent-card';
import { AgentInfo } from './dto/agent-info.dto';
import { POSITION_HEADER, REVISION_HEADER } from './registry-headers';
import { DeleteAgentResponse } from './dto/delete-agent-response.dto';
import { HeartbeatResponse } from './dto/heartbeat-response.dto';

/** The answers of the `/agents` routes, as the OpenAPI document shows them (the routes are in RegistryController). */

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

/** Every route's: an unexpected error. */
export const ApiUnexpectedError = () =>
  ApiProblemResponse(500, 'An unexpected error; the log has the cause, the body says nothing about it.', {
    detail: 'An unexpected error occurred.',
  });

export const ApiRegisterResponses = () =>
  applyDecorators(
    WriteUnavailable(),
    ApiOkResponse({ type: AgentInfo, description: 'The agent as now registered.' }),
    ApiProblemResponse(
      400,
      'Malformed JSON, a body that is not a JSON object, invalid fields (named in `errors`), members nested more ' +
        'than 64 levels deep or shaped to pollute prototypes (`__proto__`, `constructor.prototype`), a Content-Type ' +
        'that is not a media type, or a compressed body that does not decode.',
      {
        detail: 'Invalid request: port must be an integer between 1 and 65535',
        errors: [{ field: 'port', in: 'body', detail: 'port must be an integer between 1 and 65535' }],
      },
    ),
    ApiProblemResponse(413, 'The body exceeds BODY_LIMIT, as sent or once decompressed.', {
      detail: 'The request body exceeds the limit of 131072 bytes.',
    }),
    ApiProblemResponse(
      429,
      'A new agent for a key that already owns as many as its quota allows: AGENT_QUOTA (10000), or its own ' +
        '`agents=` in the keys file; admin keys have none. Re-registering an agent the key owns is never refused. ' +
        'Nothing is stored. No `Retry-After`: deregister agents of the key (or wait for cleanup to remove expired ' +
        'ones) first.',
      {
        detail: 'Key planner-fleet owns 10000 agents, its AGENT_QUOTA: deregister agents or ask for a larger quota.',
      },
    ),
    ApiProblemResponse(
      415,
      'The body is declared in a charset other than UTF-8, or in a Content-Encoding other than gzip, deflate or br.',
      { detail: 'unsupported charset "LATIN1"' },
    ),
  );

export const ApiHeartbeatResponses = () =>
  applyDecorators(
    WriteUnavailable(),
    ApiOkResponse({ type: HeartbeatResponse, description: 'The renewed lease.' }),
    ApiProblemResponse(400, 'The agent id breaks the agent_id rule, or the body is malformed JSON.', INVALID_ID),
    ApiProblemResponse(404, 'No agent with this id is registered: register it again.', NOT_FOUND),
  );

export const ApiListResponses = () =>
  applyDecorators(
    ReadUnavailable(),
    ApiOkResponse({
      type: [AgentInfo],
      description: 'The matching agents (one page of them with `limit`).',
      headers: {
        [REVISION_HEADER]: {
          description: 'The registry revision this answer reflects.',
          schema: { type: 'integer', example: 1042 },
        },
        [POSITION_HEADER]: {
          description:
            'That revision as a position, `<revision>.<fingerprint>` (the fingerprint of the event at it; `0` for ' +
            'an empty log, the revision alone if its event is not in the log): watch from it with ' +
            '`GET /events?since=`.',
          schema: { type: 'string', example: '1042.9f3ab2c1' },
        },
        Link: {
          description: 'With `limit`, when more agents match: the next page, as `<…>; rel="next"`.',
          schema: { type: 'string', example: '</agents?capability=planning&limit=100&cursor=WyJ2MSIs…>; rel="next"' },
        },
      },
    }),
    ApiProblemResponse(400, 'An invalid query parameter, or a cursor this registry did not make for this query.', {
      detail: 'Invalid request: limit must be an integer between 1 and 1000',
      errors: [{ field: 'limit', in: 'query', detail: 'limit must be an integer between 1 and 1000' }],
    }),
  );

export const ApiGetResponses = () =>
  applyDecorators(
    ReadUnavailable(),
    ApiOkResponse({ type: AgentInfo, description: 'The agent.' }),
    ApiProblemResponse(400, 'The agent id breaks the agent_id rule.', INVALID_ID),
    ApiProblemResponse(404, 'No agent with this id is registered.', NOT_FOUND),
  );

export const ApiCardResponses = () =>
  applyDecorators(
    ReadUnavailable(),
    ApiOkResponse({
      description: 'The card.',
      schema: { type: 'object', additionalProperties: true, example: EXAMPLE_AGENT_CARD },
      headers: {
        ETag: {
          description: 'Changes whenever the card does.',
          schema: { type: 'string', example: '"c2hhMjU2LWNhcmQ"' },
        },
        'Cache-Control': { schema: { type: 'string', example: 'no-cache' } },
      },
    }),
    ApiResponse({ status: 304, description: 'The card matches `If-None-Match`; no body.' }),
    ApiProblemResponse(400, 'The agent id breaks the agent_id rule.', INVALID_ID),
    ApiProblemResponse(404, 'No agent with this id is registered, or it registered no card.', {
      detail: 'Agent planner-7 has no agent card',
    }),
  );

export const ApiDeregisterResponses = () =>
  applyDecorators(
    WriteUnavailable(),
    ApiOkResponse({ type: DeleteAgentResponse, description: 'The agent was removed.' }),
    ApiProblemResponse(400, 'The agent id breaks the agent_id rule.', INVALID_ID),
    ApiProblemResponse(404, 'No agent with this id is registered.', NOT_FOUND),
  );
