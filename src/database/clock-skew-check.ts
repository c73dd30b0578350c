import { MikroORM } from '@mikro-orm/core';
import { EntityManager } from '@mikro-orm/knex';
import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Clock } from '../common/clock';
import { bigintValue } from './bigint';
import { dialectOf } from './dialect';

/** A replica's clock may differ from the database's by this much before the registry warns about it. */
export const CLOCK_SKEW_WARNING_MS = 1000;

/**
 * Replicas stamp leases with their own clocks, so a replica whose clock is off lengthens or shortens the leases it
 * renews. At boot each replica on PostgreSQL compares its clock with the server's (the one clock all replicas share)
 * and warns when they differ by more than a second. It never stops the boot.
 */
@Injectable()
export class ClockSkewCheck implements OnApplicationBootstrap {
  private readonly logger = new Logger(ClockSkewCheck.name);

  constructor(
    private readonly orm: MikroORM,
    private readonly clock: Clock,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (dialectOf(this.orm.config.getDriver()) !== 'postgresql') return;
    try {
      const before = this.clock.now().getTime();
      const rows = await (this.orm.em as EntityManager)
        .getConnection()
        .execute<{ now: string }[]>('select (extract(epoch from clock_timestamp()) * 1000)::bigint as now');
      const after = this.clock.now().getTime();
      const skew = (before + after) / 2 - bigintValue(rows[0].now);
      if (Math.abs(skew) > CLOCK_SKEW_WARNING_MS + (after - before) / 2) {
        this.logger.warn(
          `This replica's clock is ${Math.round(Math.abs(skew))} ms ${skew > 0 ? 'ahead of' : 'behind'} the ` +
            "database's: leases it renews end that much later or earlier. Keep replicas' clocks in sync (NTP).",
        );
      }
    } catch (error) {
      this.logger.debug(`Clock check skipped: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
