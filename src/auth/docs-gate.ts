import { HttpException } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { writeProblem } from '../common/problem-details.filter';
import { AuthConfig } from '../config/app-config';
import { AuthenticationRequiredException, authorize } from './auth.guard';

/** The Swagger UI page and its files, and the OpenAPI document as JSON and YAML (app.setup.ts). */
export const DOCS_PATH = /^\/docs(?:-json|-yaml)?(?:[/?]|$)/;

/**
 * The docs are served by Swagger's own routes, below Nest's guards. While REGISTRY_OPEN_ROUTES leaves `docs` out,
 * this hook (run by each adapter before any route) asks them for what a `read` route asks: a key (or, in protected
 * mode, a client on this host). Answers a refused request itself and returns true; undefined while the docs are open.
 */
export function docsGate(auth: AuthConfig): ((raw: IncomingMessage, response: ServerResponse) => boolean) | undefined {
  if (auth.openRoutes.includes('docs')) return undefined;
  return (raw, response) => {
    if (!DOCS_PATH.test(raw.url ?? '')) return false;
    try {
      authorize(auth, raw, 'read');
      return false;
    } catch (error) {
      if (!(error instanceof HttpException)) throw error;
      const challenge = error instanceof AuthenticationRequiredException ? { 'WWW-Authenticate': 'Bearer' } : {};
      writeProblem(response, error.getStatus(), error.message, challenge);
      return true;
    }
  };
}
