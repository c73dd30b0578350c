import { AbstractSqlConnection } from '@mikro-orm/knex';
import { AgentCardLike } from '../agent-card';
import { fold, searchTextOf } from '../discovery';
import { columnsAs } from './agent-rows';

/** Agents per chunk, each chunk one transaction (as the cleanup job's deletes). */
export const SEARCH_BACKFILL_CHUNK = 500;

interface SearchColumns {
  agentId: string;
  agentName: string;
  agentCard: string | null;
  searchName: string;
  searchText: string;
}

/**
 * Recomputes `search_name` and `search_text` of every stored agent from its name and card, as a registration now
 * stores them (registrationOf): run by a migration after the rules of what `name=` and `q=` search change. It walks
 * agent_record in agent_id order, a chunk at a time, each chunk a transaction of its own that rewrites only the rows
 * whose text differs, so a million agents never hold one transaction (nor SQLite's one connection) for long. On SQLite
 * the agent_search triggers re-index the rows it rewrites; PostgreSQL's trigram indexes follow by themselves.
 * `lockRows` (PostgreSQL, where other replicas may serve meanwhile) locks each chunk's rows, in agent_id order as
 * every writer does, from reading them to rewriting them, so a registration committed in between is never overwritten
 * with the text of the card it replaced. Safe to run again: a second run rewrites nothing. Answers how many agents it
 * rewrote.
 */
export async function backfillSearchColumns(
  connection: AbstractSqlConnection,
  { lockRows, chunk = SEARCH_BACKFILL_CHUNK }: { lockRows: boolean; chunk?: number },
): Promise<number> {
  let after = '';
  let rewritten = 0;
  for (;;) {
    const read = await connection.transactional(async (trx) => {
      const rows = await connection.execute<SearchColumns[]>(
        `select ${columnsAs(['agentId', 'agentName', 'agentCard', 'searchName', 'searchText'])} ` +
          `from agent_record where agent_id > ? order by agent_id limit ?${lockRows ? ' for update' : ''}`,
        [after, chunk],
        'all',
        trx,
      );
      const changed = rows.map(recomputed).filter((row, i) => !sameSearch(row, rows[i]));
      if (changed.length > 0) {
        // One statement per chunk; a CTE of VALUES reads the same in both dialects.
        await connection.execute(
          `with v (agent_id, search_name, search_text) as (values ${changed.map(() => '(?, ?, ?)').join(', ')}) ` +
            'update agent_record set search_name = v.search_name, search_text = v.search_text ' +
            'from v where agent_record.agent_id = v.agent_id',
          changed.flatMap((row) => [row.agentId, row.searchName, row.searchText]),
          'run',
          trx,
        );
      }
      rewritten += changed.length;
      return rows;
    });
    if (read.length < chunk) return rewritten;
    after = read[read.length - 1].agentId;
  }
}

function recomputed(row: SearchColumns): SearchColumns {
  const card = row.agentCard === null ? null : (JSON.parse(row.agentCard) as AgentCardLike);
  return { ...row, searchName: fold(row.agentName), searchText: searchTextOf(row.agentName, card) };
}

function sameSearch(a: SearchColumns, b: SearchColumns): boolean {
  return a.searchName === b.searchName && a.searchText === b.searchText;
}
