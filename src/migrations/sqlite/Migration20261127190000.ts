import { Migration } from '@mikro-orm/migrations';

/**
 * Discovery and the change feed: capabilities, labels and the agent card on agent_record, side tables that index
 * them for the query filters, the event log and the registry's revision counter (one row, starting at 0).
 * Existing agents get their lower-case name for the `name=` and `q=` filters (SQLite's lower() folds ASCII only;
 * their next registration stores the full fold).
 */
export class Migration20261127190000 extends Migration {
  override up(): void {
    this.addSql("alter table `agent_record` add column `capabilities` text not null default '[]';");
    this.addSql("alter table `agent_record` add column `labels` text not null default '{}';");
    this.addSql('alter table `agent_record` add column `agent_card` text null;');
    this.addSql("alter table `agent_record` add column `search_name` text not null default '';");
    this.addSql("alter table `agent_record` add column `search_text` text not null default '';");
    this.addSql('update `agent_record` set `search_name` = lower(`agent_name`), `search_text` = lower(`agent_name`);');

    this.addSql(
      'create table `agent_capability` (`agent_id` text not null, `capability` text not null, primary key (`agent_id`, `capability`));',
    );
    this.addSql('create index `agent_capability_capability_idx` on `agent_capability` (`capability`, `agent_id`);');
    this.addSql(
      'create table `agent_label` (`agent_id` text not null, `name` text not null, `value` text not null, primary key (`agent_id`, `name`));',
    );
    this.addSql('create index `agent_label_name_value_idx` on `agent_label` (`name`, `value`, `agent_id`);');
    this.addSql(
      'create table `agent_skill` (`agent_id` text not null, `term` text not null, primary key (`agent_id`, `term`));',
    );
    this.addSql('create index `agent_skill_term_idx` on `agent_skill` (`term`, `agent_id`);');

    this.addSql(
      'create table `agent_event` (`revision` bigint not null, `type` text not null, `agent_id` text not null, `at` bigint not null, `agent` text null, `previous` text null, primary key (`revision`));',
    );
    this.addSql(
      'create table `registry_revision` (`id` integer not null, `revision` bigint not null, `pruned_through` bigint not null, primary key (`id`));',
    );
    this.addSql('insert into `registry_revision` (`id`, `revision`, `pruned_through`) values (1, 0, 0);');
  }

  override down(): void {
    for (const table of ['registry_revision', 'agent_event', 'agent_skill', 'agent_label', 'agent_capability']) {
      this.addSql(`drop table if exists \`${table}\`;`);
    }
    for (const column of ['capabilities', 'labels', 'agent_card', 'search_name', 'search_text']) {
      this.addSql(`alter table \`agent_record\` drop column \`${column}\`;`);
    }
  }
}
