import { ApiProperty } from '@nestjs/swagger';

/** The registry's own health document, with agent counts. */
export class HealthResponse {
  /**
   * `healthy` when the database answers.
   * @example healthy
   */
  status!: 'healthy';

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
