import { HttpException, HttpStatus } from '@nestjs/common';

/**
 * A 429 the client may retry after `retryAfterSeconds` (sent as Retry-After by the problem-details filter), as
 * RetryLaterException is for 503s: a feature's limit extends it, so the filter needs to know no feature.
 */
export class TooManyRequestsException extends HttpException {
  constructor(
    detail: string,
    readonly retryAfterSeconds: number,
  ) {
    super(detail, HttpStatus.TOO_MANY_REQUESTS);
  }
}
