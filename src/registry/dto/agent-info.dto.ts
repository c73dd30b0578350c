import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { AgentCardLike, EXAMPLE_AGENT_CARD } from '../agent-card';
/** A registered agent and the state of its lease. */
export class AgentInfo {
  /**
   * The agent's unique id.
   * @example planner-7
   */
  agent_id!: string;

  /**
   * Human-readable name.
   * @example Planner
   */
  agent_name!: string;

  /**
   * Host name or IP address where the agent is reached.
   * @example 10.0.4.17
   */
  host!: string;

  /**
   * TCP port where the agent is reached.
   * @example 8080
   */
  @ApiProperty({ type: 'integer' })
  port!: number;

  /**
   * Lease length in seconds.
   * @example 60
   */
  @ApiProperty({ type: 'integer' })
  ttl_seconds!: number;

  /**
   * Opaque data the agent registered with, or null.
   */
  @ApiProperty({ example: '{"model":"gpt-5","queue":"planning"}' })
  metadata!: string | null;

  /**
   * What the agent can do, as registered (`[]` when none).
   * @example ["planning","travel:booking"]
   */
  capabilities!: string[];

  /**
   * The agent's labels, as registered (`{}` when none).
   */
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'string' },
    example: { region: 'eu-west-1', team: 'travel' },
  })
  labels!: Record<string, string>;

  /**
   * The agent's A2A Agent Card as registered, or null. `GET /agents/{agent_id}/card` serves it alone, with an ETag.
   */
  @ApiProperty({ type: 'object', additionalProperties: true, nullable: true, example: EXAMPLE_AGENT_CARD })
  agent_card!: AgentCardLike | null;

  /**
   * When the agent was first registered (ISO 8601, UTC); kept across re-registrations.
   * @example 2026-11-27T09:00:00.000Z
   */
  @ApiProperty({ format: 'date-time' })
  registered_at!: string;

  /**
   * When the registry last heard from the agent: its last heartbeat or registration (ISO 8601, UTC).
   * @example 2026-11-27T09:14:30.000Z
   */
  @ApiProperty({ format: 'date-time' })
  last_heartbeat!: string;

  /**
   * When the lease runs out: `last_heartbeat + ttl_seconds` (ISO 8601, UTC).
   * @example 2026-11-27T09:15:30.000Z
   */
  @ApiProperty({ format: 'date-time' })
  expires_at!: string;

  /**
   * Whether the lease is still running (`now < expires_at`).
   * @example true
   */
  is_alive!: boolean;

  /**
   * The name of the API key that owns the agent (the first to register it), or null if it was registered without
   * keys. Shown to admin keys only; other keys never see this member.
   */
  @ApiPropertyOptional({ type: 'string', nullable: true, example: 'planner-fleet' })
  owner?: string | null;
}
