import { EntityManager } from '@mikro-orm/knex';

/**
 * `DELETE FROM agent_record WHERE <where> RETURNING agent_id`, the one place the registry deletes agents (cleanup,
 * deregistration). Plain SQL that both dialects speak: MikroORM 6's query builder drops RETURNING from a DELETE,
 * and its SQLite dialect runs raw SQL that starts with `delete` without reading rows back. The leading comment
 * avoids both, and names the statement in logs and pg_stat_activity.
 */
export async function deleteAgentsReturningIds(
  em: EntityManager,
  label: string,
  where: string,
  params: unknown[],
): Promise<string[]> {
  const rows = await em
    .getConnection()
    .execute<{ agent_id: string }[]>(
      `/* ${label} */ delete from agent_record where ${where} returning agent_id`,
      params,
      'all',
      em.getTransactionContext(),
    );
  return rows.map((row) => row.agent_id);
}
