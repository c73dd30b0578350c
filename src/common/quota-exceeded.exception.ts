import { HttpException, HttpStatus } from '@nestjs/common';

/**
 * A 429 for a key past one of its quotas (AGENT_QUOTA, WATCH_STREAMS_PER_KEY, WATCH_STREAMS_MAX): the detail names
 * the quota and its variable. No Retry-After: waiting frees nothing; the key's own agents or streams do.
 */
export class QuotaExceededException extends HttpException {
  constructor(detail: string) {
    super(detail, HttpStatus.TOO_MANY_REQUESTS);
  }
}
