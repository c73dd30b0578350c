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
  /** The backfills applyMigrations has run in this process: only those may be recorded as applied. */
  private static readonly done = new Set<string>();

  /** Rewrites the rows, a bounded chunk per transaction; answers how many it rewrote. */
  abstract backfill(): Promise<number>;

  /** Runs the backfill, after which the migrator may record the migration. */
  static async run(name: string, migration: BackfillMigration): Promise<number> {
    const rewritten = await migration.backfill();
    BackfillMigration.done.add(name);
    return rewritten;
  }

  /**
   * Nothing runs inside the migrator's transaction: the work is `backfill`. A migrator driven from elsewhere (the
   * MikroORM CLI's `migration:up`) would record the migration without it, for good: it is refused instead.
   */
  override up(): void {
    const name = this.constructor.name;
    if (!BackfillMigration.done.has(name)) {
      throw new Error(
        `${name} rewrites stored rows outside the migrator: apply it with \`npm run migrate\` or at boot`,
      );
    }
  }

  protected connection(): AbstractSqlConnection {
    return this.driver.getConnection('write');
  }
}
