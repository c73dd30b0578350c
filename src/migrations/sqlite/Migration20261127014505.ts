import { Migration } from '@mikro-orm/migrations';

/** The agent_record table and the expires_at index the cleanup job deletes by. */
export class Migration20261127014505 extends Migration {
  override up(): void {
    this.addSql(
      'create table `agent_record` (`agent_id` text not null, `agent_name` text not null, `host` text not null, `port` integer not null, `ttl_seconds` integer not null, `metadata` text null, `registered_at` bigint not null, `last_heartbeat` bigint not null, `expires_at` bigint not null, primary key (`agent_id`));',
    );
    this.addSql('create index `agent_record_expires_at_idx` on `agent_record` (`expires_at`);');
  }

  override down(): void {
    this.addSql('drop table if exists `agent_record`;');
  }
}
