import { isError } from './is-error.js';
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

/**
 * Why no answer came from the registry, when none did: fetch reports a network failure as a TypeError whose `cause`
 * is the socket's or the resolver's error (`connect ECONNREFUSED 127.0.0.1:3000`), and the client's request timeout
 * aborts with a `TimeoutError`. Undefined for any other error. Errors are told apart by name, not `instanceof`: fetch's
 * come from another realm than a test's (or a bundle's) classes.
 */
export function unreachableReason(error: unknown): string | undefined {
  if (!isError(error)) return undefined;
  if (error.name === 'TimeoutError') return 'no answer in time';
  if (error.name !== 'TypeError' || !isError(error.cause)) return undefined;
  return error.cause.message || error.cause.code || error.message;
}

/**
 * An error in one line, without its stack, for a log line such as a lease or watch going to `retrying`: the registry's
 * answer (`503 The database is unavailable; retry shortly.`), why it could not be reached
 * (`connect ECONNREFUSED 127.0.0.1:3000`), or the error's message.
 */
export function errorSummary(error: unknown): string {
  if (error instanceof RegistryError) return `${error.status} ${error.message}`;
  const unreachable = unreachableReason(error);
  if (unreachable !== undefined) return unreachable;
  return isError(error) ? error.message || error.name : String(error);
}
