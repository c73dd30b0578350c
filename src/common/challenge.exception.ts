import { UnauthorizedException } from '@nestjs/common';

/**
 * A 401 that carries the challenge the client should answer (sent as WWW-Authenticate by the problem-details filter),
 * as a 429 carries its Retry-After: the feature that authenticates extends it, so the filter needs to know no feature.
 */
export class ChallengeException extends UnauthorizedException {
  constructor(
    detail: string,
    readonly challenge: string,
  ) {
    super(detail);
  }
}
