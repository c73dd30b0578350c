import { Migration } from '@mikro-orm/migrations';

/** Restart grace: when the registry was last known to be serving (one row; null until it first looks). */
export class Migration20261127233000 extends Migration {
  override up(): void {
    this.addSql(
      'create table `registry_watermark` (`id` integer not null, `seen_at` bigint null, primary key (`id`));',
    );
    this.addSql('insert into `registry_watermark` (`id`, `seen_at`) values (1, null);');
  }

  override down(): void {
    this.addSql('drop table if exists `registry_watermark`;');
  }
}
