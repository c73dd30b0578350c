import { EntityManager, Knex } from '@mikro-orm/knex';

/**
 * Runs a statement that returns no rows with its `params` bound by the database driver, in `em`'s transaction when it
 * has one. MikroORM's `execute` first writes every parameter into the SQL text (Platform.formatQuery, quoting and
 * escaping each value) and sends that text; for a statement of thousands of values, such as 500 events with an
 * agent's JSON each, that work and the garbage it left held the event loop longer than the rest of the statement.
 * Like `execute`, it goes to MikroORM's query log, and its errors are the driver's (the SQLSTATE in `code`).
 */
export async function runBound(em: EntityManager, sql: string, params: readonly Knex.RawBinding[]): Promise<void> {
  const query = em.getKnex().raw(sql, params);
  const transaction = em.getTransactionContext<Knex.Transaction>();
  if (transaction) query.transacting(transaction);
  const logger = em.config.getLogger();
  const started = Date.now();
  try {
    await query;
    logger.logQuery({ query: sql, params: [...params], took: Date.now() - started });
  } catch (error) {
    logger.logQuery({ query: sql, params: [...params], took: Date.now() - started, level: 'error' });
    throw error;
  }
}

/** `(?, ?, …), (?, ?, …), …`: the placeholders of a multi-row `values` list, `rows` rows of `columns` values each. */
export function valuesPlaceholders(rows: number, columns: number): string {
  const row = `(${Array.from({ length: columns }, () => '?').join(', ')})`;
  return Array.from({ length: rows }, () => row).join(', ');
}
