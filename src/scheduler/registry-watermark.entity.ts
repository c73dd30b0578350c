import { BigIntType, Entity, PrimaryKey, Property } from '@mikro-orm/core';

/** One row (id 1): when a replica last noted that the registry was serving (see LeaseGrace). */
@Entity({ tableName: 'registry_watermark' })
export class RegistryWatermark {
  @PrimaryKey({ autoincrement: false })
  id!: number;

  /** Epoch milliseconds; null until a replica with restart grace first runs. */
  @Property({ type: new BigIntType('number'), nullable: true })
  seenAt?: number | null;
}
