import { BigIntType, Entity, Index, PrimaryKey, Property } from '@mikro-orm/core';

/**
 * One registered agent and its lease. Timestamps are epoch milliseconds in a bigint column on every dialect, so the
 * lease arithmetic (`expires_at = last_heartbeat + ttl_seconds * 1000`) is one portable SQL expression.
 */
@Entity({ tableName: 'agent_record' })
export class AgentRecord {
  @PrimaryKey({ length: 255 })
  agentId!: string;

  @Property({ length: 256 })
  agentName!: string;

  @Property({ length: 256 })
  host!: string;

  @Property()
  port!: number;

  @Property()
  ttlSeconds!: number;

  @Property({ type: 'text', nullable: true })
  metadata?: string | null;

  @Property({ type: new BigIntType('number') })
  registeredAt!: number;

  @Property({ type: new BigIntType('number') })
  lastHeartbeat!: number;

  /** The cleanup job deletes by this column, hence the index. */
  @Index({ name: 'agent_record_expires_at_idx' })
  @Property({ type: new BigIntType('number') })
  expiresAt!: number;
}
