import { Migration } from '@mikro-orm/migrations';

/**
 * A trigram index for the `name=` and `q=` filters: an FTS5 table (contentless, so the text is not stored twice)
 * keyed by agent_record's rowid, which triggers keep in step with every insert, change and delete of an agent,
 * whichever code path makes it. Existing agents are indexed here.
 */
export class Migration20261127220000 extends Migration {
  override up(): void {
    this.addSql(
      "create virtual table `agent_search` using fts5(`search_name`, `search_text`, content='', contentless_delete=1, tokenize='trigram');",
    );
    this.addSql(
      'insert into `agent_search` (`rowid`, `search_name`, `search_text`) select `rowid`, `search_name`, `search_text` from `agent_record`;',
    );
    this.addSql(
      'create trigger `agent_search_insert` after insert on `agent_record` begin ' +
        'insert into `agent_search` (`rowid`, `search_name`, `search_text`) values (new.`rowid`, new.`search_name`, new.`search_text`); end;',
    );
    this.addSql(
      'create trigger `agent_search_update` after update of `search_name`, `search_text` on `agent_record` ' +
        'when old.`search_name` is not new.`search_name` or old.`search_text` is not new.`search_text` begin ' +
        'delete from `agent_search` where `rowid` = old.`rowid`; ' +
        'insert into `agent_search` (`rowid`, `search_name`, `search_text`) values (new.`rowid`, new.`search_name`, new.`search_text`); end;',
    );
    this.addSql(
      'create trigger `agent_search_delete` after delete on `agent_record` begin ' +
        'delete from `agent_search` where `rowid` = old.`rowid`; end;',
    );
  }

  override down(): void {
    for (const trigger of ['agent_search_insert', 'agent_search_update', 'agent_search_delete']) {
      this.addSql(`drop trigger if exists \`${trigger}\`;`);
    }
    this.addSql('drop table if exists `agent_search`;');
  }
}
