import { Migration } from '@mikro-orm/migrations';

/** The same as SQLite's migration of this name: the guard's last check, and its view of each key's agents. */
export class Migration20261207130000 extends Migration {
  override up(): void {
    this.addSql(
      'alter table "expiry_guard" add column "checked_at" bigint null, add column "held_from" bigint null, add column "held_alive" bigint null, add column "held_without" varchar(64) null;',
    );
    this.addSql(
      'create table "expiry_guard_group" ("grp" varchar(64) not null, "alive" bigint not null default 0, "since" bigint null, "reason" text null, "released_at" bigint null, "held_from" bigint null, "held_alive" bigint null, constraint "expiry_guard_group_pkey" primary key ("grp"));',
    );
  }

  override down(): void {
    this.addSql('drop table if exists "expiry_guard_group";');
    this.addSql(
      'alter table "expiry_guard" drop column "checked_at", drop column "held_from", drop column "held_alive", drop column "held_without";',
    );
  }
}
