import { Controller, Get, Header, Logger, ServiceUnavailableException, UseFilters } from '@nestjs/common';
import { HealthCheck, HealthCheckResult, HealthCheckService, MikroOrmHealthIndicator } from '@nestjs/terminus';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { Clock } from '../common/clock';
import { ExpiryGuard } from '../scheduler/expiry-guard';
import { RegistryService } from '../registry/registry.service';
import { HealthResponse, UnhealthyResponse } from './dto/health-response.dto';
import { HealthDocumentFilter } from './health-document.filter';
import { Access } from '../auth/access.decorator';

/** How long a health check waits for the database before calling it down. */
export const DATABASE_CHECK_TIMEOUT_MS = 2000;

@ApiTags('health')
@Controller('health')
@UseFilters(HealthDocumentFilter)
export class HealthController {
  private readonly logger = new Logger(HealthController.name);

  constructor(
    private readonly health: HealthCheckService,
    private readonly database: MikroOrmHealthIndicator,
    private readonly registry: RegistryService,
    private readonly guard: ExpiryGuard,
    private readonly clock: Clock,
  ) {}

  /**
   * 200 while the database answers (`status: degraded`, with `expiry_guard`, while the mass-expiry guard holds the
   * cleanup of the whole registry or of some keys' agents); 503 with `status: unhealthy` when it does not.
   */
  @ApiOperation({ operationId: 'getHealth', summary: 'Registry health with agent counts' })
  @Get()
  @Access('read')
  @Header('Cache-Control', 'no-cache, no-store, must-revalidate')
  @ApiOkResponse({ type: HealthResponse, description: 'The database answers.' })
  @ApiServiceUnavailableResponse({ type: UnhealthyResponse, description: 'The database does not answer.' })
  async check(): Promise<HealthResponse> {
    const checkedAt = this.clock.now().toISOString();
    try {
      const [{ registered, active }, guard] = await withTimeout(
        Promise.all([this.registry.count(), this.guard.state()]),
        DATABASE_CHECK_TIMEOUT_MS,
      );
      return {
        status: guard.engaged ? 'degraded' : 'healthy',
        database: 'up',
        registered_agents: registered,
        active_agents: active,
        checked_at: checkedAt,
        ...(guard.engaged && {
          expiry_guard: {
            engaged: true,
            since: new Date(guard.since!).toISOString(),
            reason: guard.reason ?? '',
            whole_registry: guard.everything ?? false,
            held_keys: guard.keys ?? [],
            unowned_held: guard.unowned ?? false,
          },
        }),
      };
    } catch (error) {
      this.logger.warn(`Health check failed: ${error instanceof Error ? error.message : String(error)}`);
      const unhealthy: UnhealthyResponse = {
        status: 'unhealthy',
        database: 'down',
        detail: 'The database did not answer.',
        checked_at: checkedAt,
      };
      throw new ServiceUnavailableException(unhealthy);
    }
  }

  /**
   * 200 while the process serves HTTP; it does not touch the database, so an outage does not restart the registry.
   */
  @ApiOperation({ operationId: 'checkLiveness', summary: 'Liveness probe' })
  @Get('live')
  @Access('probe')
  @HealthCheck({ swaggerDocumentation: false })
  @ApiOkResponse({
    description: 'The process serves HTTP (terminus format).',
    schema: { type: 'object', example: { status: 'ok', info: {}, error: {}, details: {} } },
  })
  live(): Promise<HealthCheckResult> {
    return this.health.check([]);
  }

  /**
   * 200 while the database answers a ping; 503 otherwise, so a load balancer stops sending traffic.
   */
  @ApiOperation({ operationId: 'checkReadiness', summary: 'Readiness probe' })
  @Get('ready')
  @Access('probe')
  @HealthCheck()
  ready(): Promise<HealthCheckResult> {
    return this.health.check([() => this.database.pingCheck('database', { timeout: DATABASE_CHECK_TIMEOUT_MS })]);
  }
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
