import { Migration } from '@mikro-orm/migrations';

/**
 * The same schema as SQLite's migration of this name: discovery columns and side tables, the event log and the
 * revision counter. Every `agent_id` sorts by collation "C", as agent_record's does, so pages driven by a side
 * table come in the same order as agent_record's.
 */
export class Migration20261127190000 extends Migration {
  override up(): void {
    this.addSql(
      'alter table "agent_record" add column "capabilities" text not null default \'[]\', add column "labels" text not null default \'{}\', add column "agent_card" text null, add column "search_name" text not null default \'\', add column "search_text" text not null default \'\';',
    );
    this.addSql('update "agent_record" set "search_name" = lower("agent_name"), "search_text" = lower("agent_name");');

    this.addSql(
      'create table "agent_capability" ("agent_id" varchar(255) collate "C" not null, "capability" varchar(64) not null, constraint "agent_capability_pkey" primary key ("agent_id", "capability"));',
    );
    this.addSql('create index "agent_capability_capability_idx" on "agent_capability" ("capability", "agent_id");');
    this.addSql(
      'create table "agent_label" ("agent_id" varchar(255) collate "C" not null, "name" varchar(63) not null, "value" varchar(256) not null, constraint "agent_label_pkey" primary key ("agent_id", "name"));',
    );
    this.addSql('create index "agent_label_name_value_idx" on "agent_label" ("name", "value", "agent_id");');
    this.addSql(
      'create table "agent_skill" ("agent_id" varchar(255) collate "C" not null, "term" text not null, constraint "agent_skill_pkey" primary key ("agent_id", "term"));',
    );
    this.addSql('create index "agent_skill_term_idx" on "agent_skill" ("term", "agent_id");');

    this.addSql(
      'create table "agent_event" ("revision" bigint not null, "type" varchar(16) not null, "agent_id" varchar(255) collate "C" not null, "at" bigint not null, "agent" text null, "previous" text null, constraint "agent_event_pkey" primary key ("revision"));',
    );
    this.addSql(
      'create table "registry_revision" ("id" int not null, "revision" bigint not null, "pruned_through" bigint not null, constraint "registry_revision_pkey" primary key ("id"));',
    );
    this.addSql('insert into "registry_revision" ("id", "revision", "pruned_through") values (1, 0, 0);');
  }

  override down(): void {
    this.addSql(
      'drop table if exists "registry_revision", "agent_event", "agent_skill", "agent_label", "agent_capability";',
    );
    this.addSql(
      'alter table "agent_record" drop column "capabilities", drop column "labels", drop column "agent_card", drop column "search_name", drop column "search_text";',
    );
  }
}
