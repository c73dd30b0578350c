import { INestApplication, Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Logger as PinoLogger } from 'nestjs-pino';
import { AppConfig } from './app.config';
import { AppModule, AppModuleOptions } from './app.module';
import { boundPort, configureApp, createAppHttpAdapter } from './app.setup';
import { NestLogger } from './logging/nest-logger';

/**
 * Starts the registry as `npm start` does (src/main.ts), with the extension modules `options.imports` names: the app
 * on the configured HTTP adapter, JSON logs, CORS and Swagger, shutdown on SIGTERM/SIGINT, listening on HOST:PORT.
 */
export async function startRegistry(config: AppConfig, options: AppModuleOptions = {}): Promise<INestApplication> {
  const app = await NestFactory.create(AppModule.forRoot(config, options), createAppHttpAdapter(config), {
    bodyParser: false,
    // Held until pino takes over as Nest's logger (LoggingModule), so that boot lines are JSON too. The levels make
    // Logger.isLevelEnabled answer for LOG_LEVEL (pino filters what is written).
    bufferLogs: true,
    logger: config.logLevels,
  });
  const logger = new NestLogger(app.get(PinoLogger));
  app.useLogger(logger);
  configureApp(app);
  // SIGTERM/SIGINT: stop accepting, finish requests in flight, stop the cleanup job, close the database.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  await app.listen(config.port, config.host);
  const port = boundPort(app);
  // One line for the routes Nest mapped (it writes one per route, at debug: NestLogger).
  new Logger('Bootstrap').log(`Mapped ${logger.mappedRoutes} routes (LOG_LEVEL=debug lists them)`);
  new Logger('Bootstrap').log(
    `Agent registry listening on http://${config.host}:${port} (${config.httpAdapter}), docs at /docs, database ${config.database.display}`,
  );
  return app;
}
