import { ApiProperty } from '@nestjs/swagger';
/** The renewed lease. */
export class HeartbeatResponse {
  /**
   * Always `ok`.
   * @example ok
   */
  status!: 'ok';

  /**
   * The time of this heartbeat (ISO 8601, UTC).
   * @example 2026-11-27T09:14:30.000Z
   */
  @ApiProperty({ format: 'date-time' })
  last_heartbeat!: string;

  /**
   * When the renewed lease runs out (ISO 8601, UTC).
   * @example 2026-11-27T09:15:30.000Z
   */
  @ApiProperty({ format: 'date-time' })
  expires_at!: string;
}
