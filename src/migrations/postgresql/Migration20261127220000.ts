import { Migration } from '@mikro-orm/migrations';

/**
 * Trigram indexes (pg_trgm, shipped with PostgreSQL) for the `name=` and `q=` filters, which match a substring
 * with LIKE; the planner then picks between them and agent_record's primary key.
 */
export class Migration20261127220000 extends Migration {
  override up(): void {
    this.addSql('create extension if not exists pg_trgm;');
    this.addSql(
      'create index "agent_record_search_name_trgm_idx" on "agent_record" using gin ("search_name" gin_trgm_ops);',
    );
    this.addSql(
      'create index "agent_record_search_text_trgm_idx" on "agent_record" using gin ("search_text" gin_trgm_ops);',
    );
  }

  override down(): void {
    this.addSql('drop index if exists "agent_record_search_text_trgm_idx";');
    this.addSql('drop index if exists "agent_record_search_name_trgm_idx";');
  }
}
