import { ApiProperty } from '@nestjs/swagger';
import { AgentInfo } from '../../registry/dto/agent-info.dto';
import { EVENT_TYPES, EventType } from '../../registry/persistence/event-log';

/** The agent an example event carries (here, and in the example stream of `GET /events`). */
export const EXAMPLE_EVENT_AGENT: AgentInfo = {
  agent_id: 'planner-7',
  agent_name: 'Planner',
  host: '10.0.4.17',
  port: 8080,
  ttl_seconds: 60,
  metadata: null,
  capabilities: ['planning'],
  labels: { region: 'eu-west-1' },
  agent_card: null,
  registered_at: '2026-11-27T09:00:00.000Z',
  last_heartbeat: '2026-11-27T09:00:00.000Z',
  expires_at: '2026-11-27T09:01:00.000Z',
  is_alive: true,
};

/** The `data` of one Server-Sent Event of `GET /events` (its `id` is the revision, its `event` the type). */
export class AgentEventData {
  /**
   * The registry revision of this change: registry-wide, gapless, strictly increasing.
   * @example 1043
   */
  @ApiProperty({ type: 'integer' })
  revision!: number;

  @ApiProperty({
    enum: EVENT_TYPES,
    description:
      '`registered` (a new agent), `updated` (a re-registration that changed something other than the lease), ' +
      '`deregistered` (DELETE), `expired` (removed by cleanup after its lease ran out). Heartbeats are not events.',
    example: 'registered',
  })
  type!: EventType;

  /**
   * The agent that changed.
   * @example planner-7
   */
  agent_id!: string;

  /**
   * When the change was committed (ISO 8601, UTC).
   * @example 2026-11-27T09:00:00.000Z
   */
  @ApiProperty({ format: 'date-time' })
  at!: string;

  @ApiProperty({
    type: AgentInfo,
    required: false,
    description: 'The agent after the change, for `registered` and `updated`; absent for `deregistered` and `expired`.',
    example: EXAMPLE_EVENT_AGENT,
  })
  agent?: AgentInfo;

  /**
   * Whether the agent, after this change, is one the watch's filters select. `false` when it left them (an update
   * that dropped a capability the watch asks for) or was removed: drop it from your view.
   * @example true
   */
  matches!: boolean;
}
