import { Migration } from '@mikro-orm/migrations';

/**
 * The same as SQLite's migration of this name: the owner index AGENT_QUOTA counts by. Not CONCURRENTLY (the
 * migrator runs in a transaction): writes wait while it builds, about a second per million agents.
 */
export class Migration20261207141500 extends Migration {
  override up(): void {
    this.addSql('create index "agent_record_owner_idx" on "agent_record" ("owner");');
  }

  override down(): void {
    this.addSql('drop index if exists "agent_record_owner_idx";');
  }
}
