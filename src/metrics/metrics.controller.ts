import { Controller, Get, Header, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { PrometheusController } from '@willsoto/nestjs-prometheus';
import { Access } from '../auth/access.decorator';

/** An example of the text (the metrics themselves are declared by the modules that own them). */
const EXAMPLE = `# HELP agent_registry_agents Agents stored, by state: alive (lease running) or expired (lease ran out, not yet removed by cleanup).
# TYPE agent_registry_agents gauge
agent_registry_agents{state="alive"} 42
agent_registry_agents{state="expired"} 3
# HELP agent_registry_heartbeats_total Heartbeats committed (lease renewals).
# TYPE agent_registry_heartbeats_total counter
agent_registry_heartbeats_total 18211
# HELP agent_registry_expiry_guard_engaged 1 while the mass-expiry guard holds any agents (of one key, or the whole registry) from cleanup, as this replica last read it; 0 otherwise.
# TYPE agent_registry_expiry_guard_engaged gauge
agent_registry_expiry_guard_engaged 0
`;

/** /metrics (the path is PrometheusModule's): prom-client's registry in the Prometheus text format. */
@ApiTags('metrics')
@Controller()
export class MetricsController extends PrometheusController {
  /**
   * Every metric of this replica in the Prometheus text format: the registry's own, named `agent_registry_*` (agents
   * by state; registrations, heartbeats, deregistrations and expirations; request durations by route and status;
   * cleanup runs; the group-commit writer; watch streams; the mass-expiry guard), and the process's (CPU, memory,
   * event loop lag, garbage collection, handles). README lists them. Needs a `reader` key when keys are configured,
   * unless REGISTRY_OPEN_ROUTES lists `metrics`.
   */
  @ApiOperation({ operationId: 'getMetrics', summary: 'Prometheus metrics' })
  @Get()
  @Access('metrics')
  @Header('Cache-Control', 'no-store')
  @ApiProduces('text/plain')
  @ApiOkResponse({
    description: 'The metrics, as text (`text/plain; version=0.0.4`).',
    content: { 'text/plain': { schema: { type: 'string' }, example: EXAMPLE } },
  })
  override index(@Res({ passthrough: true }) response: unknown): Promise<string> {
    return super.index(response);
  }
}
