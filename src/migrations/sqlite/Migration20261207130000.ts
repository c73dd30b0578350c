import { Migration } from '@mikro-orm/migrations';

/**
 * The mass-expiry guard judges each key's agents, and counts the lapses since its last completed check: the instant
 * of that check, and a row per key with its agents alive then and its own hold. A hold of the whole registry stays
 * as it was (the release then compares with the agents alive a minute before it engaged, as before).
 */
export class Migration20261207130000 extends Migration {
  override up(): void {
    this.addSql('alter table `expiry_guard` add column `checked_at` bigint null;');
    this.addSql('alter table `expiry_guard` add column `held_from` bigint null;');
    this.addSql('alter table `expiry_guard` add column `held_alive` bigint null;');
    this.addSql('alter table `expiry_guard` add column `held_without` text null;');
    this.addSql(
      'create table `expiry_guard_group` (`grp` text not null, `alive` bigint not null default 0, `since` bigint null, `reason` text null, `released_at` bigint null, `held_from` bigint null, `held_alive` bigint null, primary key (`grp`));',
    );
  }

  override down(): void {
    this.addSql('drop table if exists `expiry_guard_group`;');
    this.addSql('alter table `expiry_guard` drop column `checked_at`;');
    this.addSql('alter table `expiry_guard` drop column `held_from`;');
    this.addSql('alter table `expiry_guard` drop column `held_alive`;');
    this.addSql('alter table `expiry_guard` drop column `held_without`;');
  }
}
