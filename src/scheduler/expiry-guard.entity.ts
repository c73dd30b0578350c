import { BigIntType, Entity, PrimaryKey, Property } from '@mikro-orm/core';

/** One row (id 1): the mass-expiry guard's hold on the whole registry, and its last check (see ExpiryGuard). */
@Entity({ tableName: 'expiry_guard' })
export class ExpiryGuardRow {
  @PrimaryKey({ autoincrement: false })
  id!: number;

  /** When the whole registry was held (epoch milliseconds); null while cleanup deletes. */
  @Property({ type: new BigIntType('number'), nullable: true })
  since?: number | null;

  /** Why it engaged. */
  @Property({ type: 'text', nullable: true })
  reason?: string | null;

  /** When it was last released by an admin: agents that expired before then do not engage it again. */
  @Property({ type: new BigIntType('number'), nullable: true })
  releasedAt?: number | null;

  /** The instant of the last check that completed, whoever ran it; the next one counts the lapses since. */
  @Property({ type: new BigIntType('number'), nullable: true })
  checkedAt?: number | null;

  /** While held: the check whose agents it watches come back… */
  @Property({ type: new BigIntType('number'), nullable: true })
  heldFrom?: number | null;

  /** …how many of them were alive then… */
  @Property({ type: new BigIntType('number'), nullable: true })
  heldAlive?: number | null;

  /** …leaving out this group (its largest contributor, judged on its own). */
  @Property({ length: 64, nullable: true })
  heldWithout?: string | null;
}

/**
 * The guard's view of one key's agents (`grp` is the owner; '' for the agents nobody owns): how many were alive at the
 * last check, and its own hold. Rows of groups with no live agent and no hold are dropped.
 */
@Entity({ tableName: 'expiry_guard_group' })
export class ExpiryGuardGroup {
  @PrimaryKey({ length: 64 })
  grp!: string;

  /** Its agents alive at the last check. */
  @Property({ type: new BigIntType('number'), default: 0 })
  alive!: number;

  @Property({ type: new BigIntType('number'), nullable: true })
  since?: number | null;

  @Property({ type: 'text', nullable: true })
  reason?: string | null;

  @Property({ type: new BigIntType('number'), nullable: true })
  releasedAt?: number | null;

  @Property({ type: new BigIntType('number'), nullable: true })
  heldFrom?: number | null;

  @Property({ type: new BigIntType('number'), nullable: true })
  heldAlive?: number | null;
}
