import { BigIntType, Entity, PrimaryKey, Property } from '@mikro-orm/core';

/** One row (id 1): the mass-expiry guard's state (see ExpiryGuard). */
@Entity({ tableName: 'expiry_guard' })
export class ExpiryGuardRow {
  @PrimaryKey({ autoincrement: false })
  id!: number;

  /** When it engaged (epoch milliseconds); null while cleanup deletes. */
  @Property({ type: new BigIntType('number'), nullable: true })
  since?: number | null;

  /** Why it engaged. */
  @Property({ type: 'text', nullable: true })
  reason?: string | null;

  /** When it was last released: agents that expired before then do not engage it again. */
  @Property({ type: new BigIntType('number'), nullable: true })
  releasedAt?: number | null;
}
