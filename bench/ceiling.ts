import { Controller, HttpCode, Module, Post } from '@nestjs/common';
import { APP_FILTER, APP_PIPE, NestFactory } from '@nestjs/core';
import { Logger as PinoLogger } from 'nestjs-pino';
import { boundPort, configureApp, createAppHttpAdapter } from '../src/app.setup';
import { CommonModule } from '../src/common/common.module';
import { ProblemDetailsFilter } from '../src/common/problem-details.filter';
import { RequestValidationPipe } from '../src/common/request-validation.pipe';
import { loadConfig } from '../src/app.config';
import { ConfigModule } from '../src/config/config.module';
import { loggingModule } from '../src/logging/logging.module';
import { AgentIdParam } from '../src/registry/agent-id';

/**
 * The framework ceiling the benchmark compares the registry with: a NestJS app with the registry's global pipeline
 * (body parser and its limit, validation pipe, problem-details filter, the request log line through pino) and one
 * route shaped like the heartbeat, whose handler does nothing. No database, no ORM. `npm run bench` starts it in a process of its own.
 */
@Controller('agents')
class NoopController {
  @Post(':agent_id/heartbeat')
  @HttpCode(200)
  heartbeat(@AgentIdParam() agentId: string): { status: string; agent_id: string } {
    return { status: 'ok', agent_id: agentId };
  }
}

async function main(): Promise<void> {
  const config = loadConfig();

  @Module({
    imports: [ConfigModule.forRoot(config), loggingModule(config), CommonModule],
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
  const port = boundPort(app);
  console.log(`Ceiling app listening on http://${config.host}:${port}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
