import { Controller, Get, Query, Res, StreamableFile } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiProblemResponse } from '../common/api-problem-response.decorator';
import { DATABASE_UNAVAILABLE } from '../database/database-unavailable';
import { AgentFilterQuery, agentFilterOf } from '../registry/dto/agent-filter-query.dto';
import { RegistryService } from '../registry/registry.service';
import { jsonArrayText, streamJsonArray } from '../registry/json-array-stream';
import { targetGroupJson } from './prometheus-sd';
import { Access } from '../auth/access.decorator';

@ApiTags('service discovery')
@Controller('sd')
export class PrometheusSdController {
  constructor(
    private readonly registry: RegistryService,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  /**
   * The live agents that match the filters, in Prometheus' HTTP service discovery format: point `http_sd_configs`
   * at this URL. Each agent is a target `host:port` with the labels `agent_id`, `agent_name` and its own labels
   * (keys turned into Prometheus label names: characters other than letters, digits and `_` become `_`; `job`,
   * `instance`, `agent_id` and `agent_name` get a `label_` prefix), and `__meta_agent_capabilities` (`,a,b,`) for
   * relabelling. An agent's labels `prometheus.io/port`, `prometheus.io/path` and `prometheus.io/scheme` say where
   * its metrics are: they become the target's port, `__metrics_path__` and `__scheme__`. Read and sent a chunk at a
   * time as `GET /agents` without `limit` sends a full list (chunked, without `Content-Length`, when more than 100
   * agents match).
   */
  @ApiOperation({ operationId: 'listPrometheusTargets', summary: 'Prometheus HTTP service discovery' })
  @Get('prometheus')
  @Access('read')
  @ApiOkResponse({
    description: 'Target groups, one per live agent, ordered by agent_id.',
    schema: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          targets: { type: 'array', items: { type: 'string' } },
          labels: { type: 'object', additionalProperties: { type: 'string' } },
        },
      },
      example: [
        {
          targets: ['10.0.4.17:8080'],
          labels: {
            region: 'eu-west-1',
            agent_id: 'planner-7',
            agent_name: 'Planner',
            __meta_agent_capabilities: ',planning,',
          },
        },
      ],
    },
  })
  @ApiProblemResponse(400, 'An invalid filter.', {
    detail: 'Invalid request: label must be key:value',
    errors: [{ field: 'label', in: 'query', detail: 'label must be key:value' }],
  })
  @ApiProblemResponse(503, 'The database cannot be reached (`Retry-After: 5`).', { detail: DATABASE_UNAVAILABLE })
  async prometheus(
    @Query() query: AgentFilterQuery,
    @Res({ passthrough: true }) response: unknown,
  ): Promise<string | StreamableFile> {
    const listQuery = { filter: agentFilterOf(query), includeDead: false };
    const { agents, rest } = await this.registry.listAll(listQuery, targetGroupJson);
    if (rest) return streamJsonArray(agents, rest);
    this.adapterHost.httpAdapter.setHeader(response, 'Content-Type', 'application/json; charset=utf-8');
    return jsonArrayText(agents);
  }
}
