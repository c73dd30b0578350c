import { Migration } from '@mikro-orm/migrations';

/** Ownership: the name of the API key that first registered each agent (null for agents registered without keys). */
export class Migration20261127230000 extends Migration {
  override up(): void {
    this.addSql('alter table `agent_record` add column `owner` text null;');
  }

  override down(): void {
    this.addSql('alter table `agent_record` drop column `owner`;');
  }
}
