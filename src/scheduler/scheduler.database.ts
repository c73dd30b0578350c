import { DatabaseFeature } from '../database/database-feature';
import { ExpiryGuardGroup, ExpiryGuardRow } from './expiry-guard.entity';
import { RegistryWatermark } from './registry-watermark.entity';

/**
 * The scheduler's tables: the mass-expiry guard's state and holds, and restart grace's watermark. Their migrations
 * are the core's (src/migrations), which created them before modules declared their own.
 */
export const SCHEDULER_DATABASE: DatabaseFeature = {
  entities: [ExpiryGuardRow, ExpiryGuardGroup, RegistryWatermark],
};
