import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, Min } from 'class-validator';
import { toInteger } from '../../common/to-integer';
import { AgentFilterQuery } from '../../registry/dto/agent-filter-query.dto';

export class WatchQuery extends AgentFilterQuery {
  @ApiPropertyOptional({
    description:
      'Send the events after this revision (from `X-Registry-Revision` of `GET /agents`, or the `id` of the last ' +
      'event received). A `Last-Event-ID` header takes precedence. Without either, the stream starts at the current ' +
      'revision.',
    type: 'integer',
    minimum: 0,
    example: 1042,
  })
  @IsOptional()
  @Transform(toInteger)
  @IsInt({ message: 'since must be a revision: an integer of 0 or more' })
  @Min(0, { message: 'since must be a revision: an integer of 0 or more' })
  since?: number;
}
