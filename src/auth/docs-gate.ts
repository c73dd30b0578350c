import { HttpException } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { writeProblem } from '../common/problem-details.filter';
import { TooManyRequestsException } from '../common/too-many-requests.exception';
import { AuthConfig } from './auth.config';
import { AuthenticationRequiredException, authorize } from './auth.guard';

/**
 * The docs are served by Swagger's own routes, below Nest's guards. While REGISTRY_OPEN_ROUTES leaves `docs` out,
 * this hook asks them for what a `read` route asks: a key (or, in protected mode, a client on this host). Each
 * adapter runs it where its router sends requests to the docs, never by reading the URL as sent: whatever spelling
 * reaches the docs reaches the gate. Express mounts it as middleware at DOCS_MOUNTS; Fastify runs it when the route
 * that matched is one of the docs', and, for the same answers as Express, on unmatched requests below the mounts.
 * Answers a refused request itself and returns true; undefined while the docs are open.
 */
export function docsGate(auth: AuthConfig): ((raw: IncomingMessage, response: ServerResponse) => boolean) | undefined {
  if (auth.openRoutes.includes('docs')) return undefined;
  return (raw, response) => {
    try {
      authorize(auth, raw, 'read');
      return false;
    } catch (error) {
      if (!(error instanceof HttpException)) throw error;
      const headers =
        error instanceof AuthenticationRequiredException
          ? { 'WWW-Authenticate': 'Bearer' }
          : error instanceof TooManyRequestsException
            ? { 'Retry-After': String(error.retryAfterSeconds) }
            : {};
      writeProblem(response, error.getStatus(), error.message, headers);
      return true;
    }
  };
}
