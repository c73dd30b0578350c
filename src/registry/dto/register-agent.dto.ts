import { ApiProperty } from '@nestjs/swagger';
import { AsSent } from '../../common/as-sent.decorator';
import { IsStorableText } from '../../common/is-storable-text.decorator';
import { AGENT_ID_DESCRIPTION, AGENT_ID_MAX_LENGTH, AGENT_ID_PATTERN, AGENT_ID_RULE } from '../agent-id';
import { DEFAULT_TTL_SECONDS } from '../lease';
import { IsInt, IsOptional, IsString, Length, Matches, Max, Min, ValidateIf } from 'class-validator';
import { AGENT_CARD_MAX_BYTES, AgentCardLike, EXAMPLE_AGENT_CARD } from '../agent-card';
import {
  CAPABILITIES_MAX,
  CAPABILITY_MAX_LENGTH,
  CAPABILITY_PATTERN,
  IsAgentCard,
  IsCapabilities,
  IsLabels,
  LABEL_KEY_MAX_LENGTH,
  LABEL_KEY_PATTERN,
  LABEL_VALUE_MAX_LENGTH,
  LABELS_MAX,
} from '../discovery';

/**
 * One message for the three rules of an integer field, so that a value that breaks several (`"port": "8080"` is not
 * an integer, nor a number at least 1) says one true thing; the pipe reports a message once.
 */
const PORT_RULE = { message: 'port must be an integer between 1 and 65535' };
const TTL_RULE = { message: 'ttl_seconds must be an integer between 1 and 3600' };

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
  @IsInt(PORT_RULE)
  @Min(1, PORT_RULE)
  @Max(65535, PORT_RULE)
  port!: number;

  /**
   * Lease length in seconds: the agent is considered dead this long after its last heartbeat.
   * @example 60
   */
  @ApiProperty({ type: 'integer' })
  @ValidateIf((request: RegisterAgentRequest) => request.ttl_seconds !== undefined)
  @IsInt(TTL_RULE)
  @Min(1, TTL_RULE)
  @Max(3600, TTL_RULE)
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

  @ApiProperty({
    description:
      `What the agent can do, for \`GET /agents?capability=\`: up to ${CAPABILITIES_MAX} strings of 1-${CAPABILITY_MAX_LENGTH} ` +
      'characters (letters, digits, `.` `_` `:` `/` `-`, starting with a letter or digit). Duplicates are removed; ' +
      'the order is kept. Absent or null: none.',
    type: [String],
    example: ['planning', 'travel:booking'],
    maxItems: CAPABILITIES_MAX,
    items: { type: 'string', pattern: CAPABILITY_PATTERN.source, minLength: 1, maxLength: CAPABILITY_MAX_LENGTH },
  })
  @IsOptional()
  @IsCapabilities()
  capabilities?: string[] | null;

  @ApiProperty({
    description:
      `Key-value pairs for \`GET /agents?label=key:value\`: up to ${LABELS_MAX}; keys 1-${LABEL_KEY_MAX_LENGTH} ` +
      `characters matching \`${LABEL_KEY_PATTERN.source}\`, values strings of at most ` +
      `${LABEL_VALUE_MAX_LENGTH} characters. Absent or null: none. Three tell Prometheus where the agent's metrics ` +
      'are (`GET /sd/prometheus`): `prometheus.io/port` (1-65535), `prometheus.io/path` (starting with `/`) and ' +
      '`prometheus.io/scheme` (`http` or `https`); a value Prometheus could not use is passed on as a plain label.',
    type: 'object',
    additionalProperties: { type: 'string', maxLength: LABEL_VALUE_MAX_LENGTH },
    maxProperties: LABELS_MAX,
    example: { region: 'eu-west-1', team: 'travel' },
  })
  @IsOptional()
  @IsLabels()
  @AsSent()
  labels?: Record<string, string> | null;

  @ApiProperty({
    description:
      'An A2A Agent Card: the 1.0 shape (`supportedInterfaces`) or the 0.3 shape (a top-level `url`). The registry ' +
      'checks `name`, `description`, `version` and `skills[]` (each with `id`, `name`, `description`, `tags`) and ' +
      `stores the card as sent, up to ${AGENT_CARD_MAX_BYTES} bytes of JSON; \`GET /agents/{agent_id}/card\` serves ` +
      'it. A bad card gets 400 naming the path of each bad member. Absent or null: none.',
    type: 'object',
    additionalProperties: true,
    example: EXAMPLE_AGENT_CARD,
  })
  @IsOptional()
  @IsAgentCard()
  @AsSent()
  agent_card?: AgentCardLike | null;
}
