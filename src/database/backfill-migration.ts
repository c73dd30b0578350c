import { AbstractSqlConnection } from '@mikro-orm/knex';
import { Migration } from '@mikro-orm/migrations';

/**
 * A migration that rewrites the rows already stored: at a million agents, too many for the one transaction in which
 * the migrator applies every pending migration (it would hold their locks, and SQLite's one connection, to the end).
 * applyMigrations runs `backfill` outside it, once the migrations before this one have committed, in transactions of
 * the backfill's own, and records the migration only when `backfill` is done. A backfill interrupted half-way (a
 * crash, a deploy) runs again at the next boot, from the start: it must be safe to repeat.
 */
export abstract class BackfillMigration extends Migration {
  /** Rewrites the rows, a bounded chunk per transaction; answers how many it rewrote. */
  abstract backfill(): Promise<number>;

  /** Nothing runs inside the migrator's transaction: the work is `backfill`. */
  override up(): void {
    // See backfill().
  }

  protected connection(): AbstractSqlConnection {
    return this.driver.getConnection('write');
  }
}
