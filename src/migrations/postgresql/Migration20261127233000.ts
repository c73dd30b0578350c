import { Migration } from '@mikro-orm/migrations';

/** The same as SQLite's migration of this name: the restart-grace watermark. */
export class Migration20261127233000 extends Migration {
  override up(): void {
    this.addSql(
      'create table "registry_watermark" ("id" int not null, "seen_at" bigint null, constraint "registry_watermark_pkey" primary key ("id"));',
    );
    this.addSql('insert into "registry_watermark" ("id", "seen_at") values (1, null);');
  }

  override down(): void {
    this.addSql('drop table if exists "registry_watermark";');
  }
}
