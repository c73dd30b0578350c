import { Migration } from '@mikro-orm/migrations';

/** AGENT_QUOTA counts a key's agents on every write batch that registers: an index instead of a scan of them all. */
export class Migration20261207141500 extends Migration {
  override up(): void {
    this.addSql('create index `agent_record_owner_idx` on `agent_record` (`owner`);');
  }

  override down(): void {
    this.addSql('drop index if exists `agent_record_owner_idx`;');
  }
}
