import { Migration } from '@mikro-orm/migrations';

/** The same as SQLite's migration of this name: each agent's owning API key. */
export class Migration20261127230000 extends Migration {
  override up(): void {
    this.addSql('alter table "agent_record" add column "owner" varchar(64) null;');
  }

  override down(): void {
    this.addSql('alter table "agent_record" drop column "owner";');
  }
}
