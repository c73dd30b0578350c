import { Migration } from '@mikro-orm/migrations';

/**
 * The agent_record table and the expires_at index the cleanup job deletes by: the same schema as SQLite's first
 * migration. `agent_id` sorts by collation "C" (code point order, as SQLite's BINARY), so listings come back in the
 * same order on both databases whatever the server's locale.
 */
export class Migration20261127014505 extends Migration {
  override up(): void {
    this.addSql(
      'create table "agent_record" ("agent_id" varchar(255) collate "C" not null, "agent_name" varchar(256) not null, "host" varchar(256) not null, "port" int not null, "ttl_seconds" int not null, "metadata" text null, "registered_at" bigint not null, "last_heartbeat" bigint not null, "expires_at" bigint not null, constraint "agent_record_pkey" primary key ("agent_id"));',
    );
    this.addSql('create index "agent_record_expires_at_idx" on "agent_record" ("expires_at");');
  }

  override down(): void {
    this.addSql('drop table if exists "agent_record";');
  }
}
