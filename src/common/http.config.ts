import { IsIn, IsNotEmpty, IsString, Matches } from 'class-validator';
import { ConfigSection, Problems } from '../config/environment';
import { DURATION, IntegerBetween, parseDuration, parseSize, SIZE, SIZE_RULE } from '../config/parsers';

/** The HTTP server under Nest: Express (the default) or Fastify (more requests per second, same behaviour). */
export const HTTP_ADAPTERS = ['express', 'fastify'] as const;
export type HttpAdapterName = (typeof HTTP_ADAPTERS)[number];

/** The HTTP server's settings. */
export interface HttpSection {
  port: number;
  host: string;
  httpAdapter: HttpAdapterName;
  bodyLimitBytes: number;
  /** Browser origins allowed to call the API (CORS); none when empty. */
  corsOrigins: string[];
  /** Longest wait for a request's headers, and for the whole request, before the connection is closed (408). */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** How long an idle kept-alive connection stays open: longer than a load balancer's idle timeout, so it closes first. */
  keepAliveTimeoutMs: number;
  /** Longest a signalled shutdown may take (see HttpDrain). */
  shutdownTimeoutMs: number;
}

class HttpVariables {
  @IntegerBetween(0, 65535)
  PORT: number = 3000;

  @IsString()
  @IsNotEmpty({ message: 'must not be empty' })
  HOST: string = '0.0.0.0';

  @IsIn(HTTP_ADAPTERS, { message: `must be one of ${HTTP_ADAPTERS.join(', ')}` })
  HTTP_ADAPTER: HttpAdapterName = 'express';

  @IsString()
  @Matches(SIZE, { message: SIZE_RULE })
  BODY_LIMIT: string = '128kb';

  /** Comma-separated origins, e.g. `https://dash.example.com`; unset: no cross-origin access. */
  @IsString()
  CORS_ORIGINS: string = '';

  @IntegerBetween(1000, 600_000, 'a number of milliseconds')
  HTTP_HEADERS_TIMEOUT_MS: number = 10_000;

  @IntegerBetween(1000, 3_600_000, 'a number of milliseconds')
  HTTP_REQUEST_TIMEOUT_MS: number = 30_000;

  /** Above the 60 s idle timeout of common load balancers (AWS ALB, nginx), which then close first: Fastify's own. */
  @IntegerBetween(1000, 3_600_000, 'a number of milliseconds')
  HTTP_KEEPALIVE_TIMEOUT_MS: number = 72_000;

  @Matches(DURATION, { message: 'must be a duration (1s to 10m): seconds, or with a unit: 500ms, 30s, 2m' })
  SHUTDOWN_TIMEOUT: string = '10s';
}

export const httpSection: ConfigSection<HttpVariables, HttpSection> = {
  variables: HttpVariables,
  slice(vars: HttpVariables, problems: Problems): HttpSection {
    const bodyLimitBytes = parseSize(vars.BODY_LIMIT);
    if (bodyLimitBytes !== undefined && (bodyLimitBytes < 1024 || bodyLimitBytes > 64 * 1024 * 1024)) {
      problems.add('BODY_LIMIT', `BODY_LIMIT=${JSON.stringify(vars.BODY_LIMIT)} must be between 1kb and 64mb`);
    }
    const corsOrigins = vars.CORS_ORIGINS.split(',')
      .map((origin) => origin.trim())
      .filter((origin) => origin !== '');
    for (const origin of corsOrigins) {
      if (!/^https?:\/\/[^/\s]+$/.test(origin)) {
        problems.add('CORS_ORIGINS', `CORS_ORIGINS: "${origin}" is not an origin (scheme://host[:port], no path)`);
      }
    }
    const shutdownTimeoutMs = parseDuration(vars.SHUTDOWN_TIMEOUT);
    if (shutdownTimeoutMs !== undefined && (shutdownTimeoutMs < 1000 || shutdownTimeoutMs > 600_000)) {
      problems.add(
        'SHUTDOWN_TIMEOUT',
        `SHUTDOWN_TIMEOUT=${JSON.stringify(vars.SHUTDOWN_TIMEOUT)} must be between 1s and 10m`,
      );
    }
    if (vars.HTTP_REQUEST_TIMEOUT_MS < vars.HTTP_HEADERS_TIMEOUT_MS) {
      problems.add(
        'HTTP_REQUEST_TIMEOUT_MS',
        'HTTP_REQUEST_TIMEOUT_MS must not be shorter than HTTP_HEADERS_TIMEOUT_MS',
      );
    }
    return {
      port: vars.PORT,
      host: vars.HOST,
      httpAdapter: vars.HTTP_ADAPTER,
      bodyLimitBytes: bodyLimitBytes!,
      corsOrigins,
      headersTimeoutMs: vars.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: vars.HTTP_REQUEST_TIMEOUT_MS,
      keepAliveTimeoutMs: vars.HTTP_KEEPALIVE_TIMEOUT_MS,
      shutdownTimeoutMs: shutdownTimeoutMs!,
    };
  },
};
