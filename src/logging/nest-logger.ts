import { LoggerService } from '@nestjs/common';

/** Nest's lines about the routes it maps at boot: one per controller, one per route. */
const ROUTE_MAPPING = new Set(['RoutesResolver', 'RouterExplorer']);

/**
 * The logger Nest writes through (main.ts): pino's (nestjs-pino's Logger), with the lines Nest writes at boot for each
 * route it maps moved down to debug, and counted, so that main.ts writes one line for all of them at info. Nest
 * passes a line's context as its last parameter.
 */
export class NestLogger implements LoggerService {
  private mapped = 0;

  constructor(private readonly logger: Required<Omit<LoggerService, 'setLogLevels'>>) {}

  /** Routes mapped so far. */
  get mappedRoutes(): number {
    return this.mapped;
  }

  log(message: unknown, ...optionalParams: unknown[]): void {
    const context = optionalParams[optionalParams.length - 1];
    if (typeof context === 'string' && ROUTE_MAPPING.has(context)) {
      if (context === 'RouterExplorer') this.mapped++;
      this.logger.debug(message, ...optionalParams);
    } else {
      this.logger.log(message, ...optionalParams);
    }
  }

  error(message: unknown, ...optionalParams: unknown[]): void {
    this.logger.error(message, ...optionalParams);
  }

  warn(message: unknown, ...optionalParams: unknown[]): void {
    this.logger.warn(message, ...optionalParams);
  }

  debug(message: unknown, ...optionalParams: unknown[]): void {
    this.logger.debug(message, ...optionalParams);
  }

  verbose(message: unknown, ...optionalParams: unknown[]): void {
    this.logger.verbose(message, ...optionalParams);
  }

  fatal(message: unknown, ...optionalParams: unknown[]): void {
    this.logger.fatal(message, ...optionalParams);
  }
}
