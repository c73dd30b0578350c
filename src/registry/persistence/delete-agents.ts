import { EntityManager } from '@mikro-orm/knex';
import { AgentRecord } from './agent-record.entity';
import { agentColumns, fromRow, StoredRow } from './agent-rows';
import { deleteFacets } from './agent-facets';

/**
 * `DELETE FROM agent_record WHERE <where> RETURNING <every column>`, and the deleted agents' rows in the side tables:
 * the one place the registry deletes agents (cleanup, deregistration). Resolves with the agents as they were, for
 * their events. Plain SQL that both dialects speak: MikroORM 6's query builder drops RETURNING from a DELETE, and
 * its SQLite dialect runs raw SQL that starts with `delete` without reading rows back. The leading comment avoids
 * both, and names the statement in logs and pg_stat_activity. Run it in a transaction.
 */
export async function deleteAgents(
  em: EntityManager,
  label: string,
  where: string,
  params: unknown[],
): Promise<AgentRecord[]> {
  const rows = await em
    .getConnection()
    .execute<StoredRow[]>(
      `/* ${label} */ delete from agent_record where ${where} returning ${agentColumns()}`,
      params,
      'all',
      em.getTransactionContext(),
    );
  await deleteFacets(
    em,
    rows.map((row) => row.agentId),
  );
  return rows.map(fromRow);
}
