import { EntityManager } from '@mikro-orm/knex';

/**
 * Locks the one row (`id = 1`) of a one-row table until `tx`'s transaction ends, and reads `columns` of it. It is a
 * write (`set column = column`), not `SELECT … FOR UPDATE`: SQLite then takes its write lock at once, waiting for
 * another process' as busy_timeout allows, instead of failing when a transaction that has only read tries to write;
 * on PostgreSQL, replicas take turns on the row. The leading comment makes MikroORM's SQLite dialect read the
 * RETURNING row of raw SQL.
 */
export async function lockSingletonRow<Row>(
  tx: EntityManager,
  table: string,
  touch: string,
  columns: string,
): Promise<Row> {
  const [row] = await tx
    .getConnection()
    .execute<Row[]>(
      `/* ${table} */ update ${table} set ${touch} = ${touch} where id = 1 returning ${columns}`,
      [],
      'all',
      tx.getTransactionContext(),
    );
  return row;
}
