import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { toBoolean } from '../../config/to-boolean';
import { toInteger } from '../../config/to-integer';
import { cursorScope, encodeCursor } from '../page-cursor';
import { agentFilterOf, AgentFilterQuery, FILTER_EXAMPLES } from './agent-filter-query.dto';

export const PAGE_LIMIT_MAX = 1000;

/**
 * A cursor for the other parameters' examples, of a page that starts after planner-6: a cursor belongs to the filters
 * of the query that made it, so one made for other filters (or none) would be refused with a 400.
 */
const CURSOR_EXAMPLE = encodeCursor('planner-6', cursorScope(agentFilterOf(FILTER_EXAMPLES), false));

export class ListAgentsQuery extends AgentFilterQuery {
  /**
   * Also return agents whose lease has run out but which cleanup has not removed yet (`is_alive: false`).
   * Accepts true/false, 1/0, yes/no, on/off.
   * @example false
   */
  @Transform(toBoolean)
  @IsBoolean({ message: 'include_dead must be true or false' })
  include_dead?: boolean = false;

  @ApiPropertyOptional({
    description:
      `Page size (1-${PAGE_LIMIT_MAX}). With it, the answer is one page and, if more agents match, a ` +
      '`Link: <…>; rel="next"` header gives the next one. Without it, every match is returned.',
    type: 'integer',
    minimum: 1,
    maximum: PAGE_LIMIT_MAX,
    example: 100,
  })
  @IsOptional()
  @Transform(toInteger)
  @IsInt({ message: `limit must be an integer between 1 and ${PAGE_LIMIT_MAX}` })
  @Min(1, { message: `limit must be an integer between 1 and ${PAGE_LIMIT_MAX}` })
  @Max(PAGE_LIMIT_MAX, { message: `limit must be an integer between 1 and ${PAGE_LIMIT_MAX}` })
  limit?: number;

  @ApiPropertyOptional({
    description:
      "Where the page starts: copy it from the previous page's `Link` header. Opaque; it belongs to the filters it " +
      'was made for.',
    example: CURSOR_EXAMPLE,
  })
  @IsOptional()
  @IsString({ message: 'cursor must be given once, as a string' })
  @MaxLength(2048, { message: 'cursor is not one this registry made' })
  cursor?: string;
}
