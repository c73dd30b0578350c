import { DynamicModule, LogLevel } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import pino, { Level, Logger as PinoInstance } from 'pino';
import pretty from 'pino-pretty';
import { LoggingSection } from './logging.config';

/** Nest's levels as pino names them. */
const PINO_LEVELS: Record<LogLevel, Level> = {
  fatal: 'fatal',
  error: 'error',
  warn: 'warn',
  log: 'info',
  debug: 'debug',
  verbose: 'trace',
};

/**
 * Logs through pino (nestjs-pino): one JSON object per line on stdout, or pino-pretty's lines with LOG_FORMAT=pretty.
 * main.ts makes it Nest's logger, so every `Logger` in the code writes here. The one line per request, with its id,
 * route, status, duration and key, is written by `beginRequest` (common/request-context.ts), which also sees the
 * requests a raw hook answers before Nest; lines about one request name its `request_id` themselves. pino-http's
 * per-request middleware is not mounted: a child logger and an async context per request cost more than the
 * little they would add. Nothing logs headers or bodies; the redaction is a safeguard for future code.
 */
export function loggingModule(config: LoggingSection): DynamicModule {
  return LoggerModule.forRoot({
    pinoHttp: {
      logger: rootLogger(config),
      autoLogging: false,
    },
    forRoutes: [],
  });
}

/** The one pino logger of the process, at LOG_LEVEL, in LOG_FORMAT. */
export function rootLogger(config: LoggingSection): PinoInstance {
  const options: pino.LoggerOptions = {
    level: PINO_LEVELS[config.logLevels[config.logLevels.length - 1] ?? 'fatal'],
    // Level names and ISO times read better than numbers, and log shippers parse both.
    formatters: { level: (label) => ({ level: label }) },
    timestamp: pino.stdTimeFunctions.isoTime,
    base: { pid: process.pid },
    redact: ['req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers.cookie'],
  };
  if (config.logFormat === 'pretty') {
    // In this thread (no transport worker), so nothing is lost when the process exits.
    return pino(options, pretty({ colorize: process.stdout.isTTY, singleLine: true, ignore: 'pid' }));
  }
  return pino(options);
}
