import { Migration } from '@mikro-orm/migrations';

/** The same as SQLite's migration of this name: the mass-expiry guard's state. */
export class Migration20261127234500 extends Migration {
  override up(): void {
    this.addSql(
      'create table "expiry_guard" ("id" int not null, "since" bigint null, "reason" text null, "released_at" bigint null, constraint "expiry_guard_pkey" primary key ("id"));',
    );
    this.addSql('insert into "expiry_guard" ("id") values (1);');
  }

  override down(): void {
    this.addSql('drop table if exists "expiry_guard";');
  }
}
