import { ApiProperty } from '@nestjs/swagger';
import { IsStorableText } from '../../common/is-storable-text.decorator';
import { AGENT_ID_DESCRIPTION, AGENT_ID_MAX_LENGTH, AGENT_ID_PATTERN, AGENT_ID_RULE } from '../agent-id';
import { DEFAULT_TTL_SECONDS } from '../lease';
import { IsInt, IsOptional, IsString, Length, Matches, Max, Min, ValidateIf } from 'class-validator';

/** What an agent sends to register itself, or to update its registration. */
export class RegisterAgentRequest {
  @ApiProperty({ description: AGENT_ID_DESCRIPTION, example: 'planner-7', pattern: AGENT_ID_PATTERN.source })
  @IsString()
  @Length(1, AGENT_ID_MAX_LENGTH)
  @Matches(AGENT_ID_PATTERN, { message: AGENT_ID_RULE })
  agent_id!: string;

  /**
   * A human-readable name; need not be unique.
   * @example Planner
   */
  @IsString()
  @Length(1, 256)
  // eslint-disable-next-line no-control-regex -- rejecting control characters is the point
  @Matches(/^[^\x00-\x1f\x7f-\x9f]*$/, { message: 'agent_name must not contain control characters' })
  @IsStorableText()
  agent_name!: string;

  /**
   * Host name or IP address where the agent is reached.
   * @example 10.0.4.17
   */
  @IsString()
  @Length(1, 256)
  // eslint-disable-next-line no-control-regex -- rejecting control characters is the point
  @Matches(/^[^\s\x00-\x1f\x7f-\x9f]*$/, { message: 'host must not contain whitespace or control characters' })
  @IsStorableText()
  host!: string;

  /**
   * TCP port where the agent is reached.
   * @example 8080
   */
  @ApiProperty({ type: 'integer' })
  @IsInt()
  @Min(1)
  @Max(65535)
  port!: number;

  /**
   * Lease length in seconds: the agent is considered dead this long after its last heartbeat.
   * @example 60
   */
  @ApiProperty({ type: 'integer' })
  @ValidateIf((request: RegisterAgentRequest) => request.ttl_seconds !== undefined)
  @IsInt()
  @Min(1)
  @Max(3600)
  ttl_seconds?: number = DEFAULT_TTL_SECONDS;

  /**
   * Opaque data about the agent (often JSON), stored and returned as given.
   */
  @ApiProperty({ example: '{"model":"gpt-5","queue":"planning"}' })
  @IsOptional()
  @IsString()
  @Length(0, 4000)
  @IsStorableText()
  metadata?: string | null;
}
