import { ServiceUnavailableException } from '@nestjs/common';

/** A 503 the client should retry after `retryAfterSeconds` (sent as Retry-After by the problem-details filter). */
export class RetryLaterException extends ServiceUnavailableException {
  constructor(
    detail: string,
    readonly retryAfterSeconds: number,
  ) {
    super(detail);
  }
}
