import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, Matches } from 'class-validator';
import { AgentFilterQuery } from '../../registry/dto/agent-filter-query.dto';

/** A position as a query parameter: a revision, optionally `.` and the 8 hex digits of its event's fingerprint. */
export const POSITION_PATTERN = /^\d{1,15}(\.[0-9a-f]{8})?$/;
const SINCE_MESSAGE = 'since must be a position: a revision (an integer of 0 or more), or <revision>.<fingerprint>';

export class WatchQuery extends AgentFilterQuery {
  @ApiPropertyOptional({
    description:
      'Send the events after this position: `X-Registry-Position` of `GET /agents`, or the `id` of the last event ' +
      'received, as `<revision>.<fingerprint>`. If the log no longer holds that event as it was (a restore from a ' +
      'backup, a failover to a replica that lagged), the answer is 410, never the events of another history. A ' +
      'plain revision (`X-Registry-Revision`, clients before positions) is accepted and not checked. A ' +
      '`Last-Event-ID` header takes precedence. Without either, the stream starts at the current revision.',
    type: 'string',
    pattern: POSITION_PATTERN.source,
    example: '1042.9f3ab2c1',
  })
  @IsOptional()
  @Matches(POSITION_PATTERN, { message: SINCE_MESSAGE })
  since?: string;
}
