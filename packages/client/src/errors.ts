import type { components } from './openapi.js';

export type ProblemDetails = components['schemas']['ValidationProblemDetails'];

/** An answer other than 2xx: the status and the problem details the registry sent. */
export class RegistryError extends Error {
  override name = 'RegistryError';

  constructor(
    readonly status: number,
    readonly problem: ProblemDetails | undefined,
    readonly retryAfterSeconds?: number,
  ) {
    super(problem?.detail ?? `The registry answered ${status}`);
  }
}
