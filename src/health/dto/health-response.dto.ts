import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** The mass-expiry guard, while it keeps the cleanup from deleting agents. */
export class ExpiryGuardHealth {
  /**
   * Always true here.
   * @example true
   */
  engaged!: boolean;

  /**
   * When it engaged (ISO 8601, UTC).
   * @example 2026-11-27T09:14:00.000Z
   */
  @ApiProperty({ format: 'date-time' })
  since!: string;

  /**
   * Why, in numbers, and how it releases (one sentence per hold, separated by `; `).
   * @example "40 of the 50 agents alive at 2026-11-27T09:13:00.000Z expired by 2026-11-27T09:14:00.000Z (more than EXPIRY_GUARD_RATIO 0.5) of the key fleet-a: cleanup keeps these agents until they come back, EXPIRY_GUARD_MAX_SECONDS pass, or an admin releases them"
   */
  reason!: string;

  /**
   * The whole registry is held: cleanup deletes no agent. Otherwise only the agents of `held_keys` (and, with
   * `unowned_held`, those no key owns) are kept, and the others are cleaned up as usual.
   * @example false
   */
  whole_registry!: boolean;

  /**
   * The API keys whose agents are held (their own agents lapsed at once).
   * @example ["fleet-a"]
   */
  held_keys!: string[];

  /**
   * The agents no key owns are held.
   * @example false
   */
  unowned_held!: boolean;
}

/** The registry's own health document, with agent counts. */
export class HealthResponse {
  /**
   * `healthy` when the database answers; `degraded` while the mass-expiry guard holds the cleanup (see
   * `expiry_guard`).
   * @example healthy
   */
  @ApiProperty({ enum: ['healthy', 'degraded'] })
  status!: 'healthy' | 'degraded';

  /**
   * Whether the database answered.
   * @example up
   */
  database!: 'up';

  /**
   * Agents stored, alive or not yet cleaned up.
   * @example 42
   */
  @ApiProperty({ type: 'integer' })
  registered_agents!: number;

  /**
   * Agents whose lease is running.
   * @example 40
   */
  @ApiProperty({ type: 'integer' })
  active_agents!: number;

  /**
   * When this check ran (ISO 8601, UTC).
   * @example 2026-11-27T09:14:30.000Z
   */
  @ApiProperty({ format: 'date-time' })
  checked_at!: string;

  /** Only while the mass-expiry guard holds (the whole registry, or some keys' agents): since when, why, and what. */
  @ApiPropertyOptional({
    type: () => ExpiryGuardHealth,
    example: {
      engaged: true,
      since: '2026-11-27T09:14:00.000Z',
      reason: '40 of the 50 agents alive at 2026-11-27T09:13:00.000Z expired by 2026-11-27T09:14:00.000Z (…)',
      whole_registry: false,
      held_keys: ['fleet-a'],
      unowned_held: false,
    },
  })
  expiry_guard?: ExpiryGuardHealth;
}

/** The health document when the database does not answer (HTTP 503). */
export class UnhealthyResponse {
  /**
   * Always `unhealthy`.
   * @example unhealthy
   */
  status!: 'unhealthy';

  /**
   * Always `down`.
   * @example down
   */
  database!: 'down';

  /**
   * What failed.
   * @example "The database did not answer."
   */
  detail!: string;

  /**
   * When this check ran (ISO 8601, UTC).
   * @example 2026-11-27T09:14:30.000Z
   */
  @ApiProperty({ format: 'date-time' })
  checked_at!: string;
}
