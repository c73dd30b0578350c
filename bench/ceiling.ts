import { Controller, HttpCode, Module, Param, Post } from '@nestjs/common';
import { APP_FILTER, APP_PIPE, NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Logger as PinoLogger } from 'nestjs-pino';
import { boundPort, configureApp, createAppHttpAdapter } from '../src/app.setup';
import { loadConfig } from '../src/app.config';
import { Access } from '../src/auth/access.decorator';
import { AuthModule } from '../src/auth/auth.module';
import { HeartbeatLimited } from '../src/auth/rate-limit';
import { CommonModule } from '../src/common/common.module';
import { ProblemDetailsFilter } from '../src/common/problem-details.filter';
import { RequestValidationPipe } from '../src/common/request-validation.pipe';
import { ConfigModule } from '../src/config/config.module';
import { loggingModule } from '../src/logging/logging.module';
import { AgentIdParam } from '../src/registry/agent-id';

/**
 * The framework ceilings the benchmark compares the registry with, each a NestJS app with one route shaped like the
 * heartbeat, whose handler does nothing: no database, no ORM. `npm run bench` starts each in a process of its own.
 *
 * - The registry's ceiling (the default): the registry's HTTP adapter and global pipeline, configured from the same
 *   environment as the registry: helmet's headers, the request id and log line (pino), the HTTP metrics, the body
 *   reader and its limit, both guards (the API key and its role, the rate limits and the heartbeat limit per agent),
 *   the validation pipe with the agent_id check, the problem-details filter.
 * - `--bare`: NestJS on the same HTTP adapter as it comes (its own body parser, no logger, no guards): what the
 *   pipeline above costs is the difference.
 */
@Controller('agents')
class NoopController {
  @Post(':agent_id/heartbeat')
  @Access('write')
  @HeartbeatLimited()
  @HttpCode(200)
  heartbeat(@AgentIdParam() agentId: string): { status: string; agent_id: string } {
    return { status: 'ok', agent_id: agentId };
  }
}

@Controller('agents')
class BareController {
  @Post(':agent_id/heartbeat')
  @HttpCode(200)
  heartbeat(@Param('agent_id') agentId: string): { status: string; agent_id: string } {
    return { status: 'ok', agent_id: agentId };
  }
}

async function registryCeiling(): Promise<void> {
  const config = loadConfig();

  @Module({
    imports: [ConfigModule.forRoot(config), loggingModule(config), CommonModule, AuthModule.forRoot()],
    controllers: [NoopController],
    providers: [
      { provide: APP_PIPE, useClass: RequestValidationPipe },
      { provide: APP_FILTER, useClass: ProblemDetailsFilter },
    ],
  })
  class CeilingModule {}

  const app = await NestFactory.create(CeilingModule, createAppHttpAdapter(config), {
    bodyParser: false,
    bufferLogs: true,
    logger: config.logLevels,
  });
  app.useLogger(app.get(PinoLogger));
  configureApp(app);
  await app.listen(config.port, config.host);
  console.log(`Ceiling app listening on http://${config.host}:${boundPort(app)}`);
}

async function bareCeiling(): Promise<void> {
  const config = loadConfig();

  @Module({ controllers: [BareController] })
  class BareModule {}

  const adapter = config.httpAdapter === 'fastify' ? new FastifyAdapter() : new ExpressAdapter();
  const app = await NestFactory.create(BareModule, adapter, { logger: false });
  await app.listen(config.port, config.host);
  console.log(`Bare NestJS app listening on http://${config.host}:${boundPort(app)}`);
}

// Exits on SIGTERM through process.exit, so that `node --cpu-prof` writes its profile.
process.once('SIGTERM', () => process.exit(0));
(process.argv.includes('--bare') ? bareCeiling() : registryCeiling()).catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
