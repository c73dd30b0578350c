import { ServiceUnavailableException } from '@nestjs/common';

/**
 * A 503 the client should retry after `retryAfterSeconds` (sent as Retry-After by the problem-details filter). It
 * is expected (overload, shutdown, an outage), so the filter logs `logLine` as a warning, without a stack.
 */
export class RetryLaterException extends ServiceUnavailableException {
  constructor(
    detail: string,
    readonly retryAfterSeconds: number,
    readonly logLine = `Answered 503: ${detail}`,
  ) {
    super(detail);
  }
}
