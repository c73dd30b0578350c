import { EntityManager } from '@mikro-orm/knex';
import { lockSingletonRow } from '../database/lock-singleton-row';
import { pickedInOrder } from '../registry/persistence/agent-locks';

/**
 * The leases a gap extends, binding its `from` and `to`: alive when it began, and running out within their own ttl
 * after it ended (strictly: a lease renewed or extended at or after its end runs at least to `to` + ttl_seconds).
 */
const LAPSED = 'expires_at > ? and expires_at < ? + ttl_seconds * 1000';

/** The time no replica served, from the watermark to the look that found it too old. */
export interface Gap {
  from: number;
  to: number;
}

/** The SQL of restart grace (see LeaseGrace): the watermark's row, and the leases of a gap. */
export class LeaseGraceRepository {
  constructor(private readonly em: EntityManager) {}

  /** Locks the watermark's row until the transaction ends (replicas take turns; SQLite takes its write lock now). */
  lockWatermark(): Promise<{ seenAt: number | string | null }> {
    return lockSingletonRow<{ seenAt: number | string | null }>(
      this.em,
      'registry_watermark',
      'seen_at',
      'seen_at as "seenAt"',
    );
  }

  /** Whether any lease of the gap remains to extend. */
  async anyLapsed(gap: Gap): Promise<boolean> {
    const [lapsed] = await this.execute<unknown[]>(`select 1 from agent_record where ${LAPSED} limit 1`, [
      gap.from,
      gap.to,
    ]);
    return lapsed !== undefined;
  }

  async moveWatermark(now: number): Promise<void> {
    await this.execute('update registry_watermark set seen_at = ? where id = 1', [now], 'run');
  }

  /** Analyzes agent_record without the statement timeout (see LeaseGrace.analyze); in a transaction of its own. */
  async analyze(): Promise<void> {
    await this.em.transactional(async (tx) => {
      const connection = tx.getConnection();
      await connection.execute('set local statement_timeout = 0', [], 'run', tx.getTransactionContext());
      await connection.execute('analyze agent_record', [], 'run', tx.getTransactionContext());
    });
  }

  /**
   * Extends up to `chunk` leases of the gap to `expiresAt` (leaseRenewalSql, binding `from`), picked through the
   * expires_at index and, with `lockRowsFirst`, locked in agent_id order (see LeaseGrace.extendChunk). Answers the
   * ids extended.
   */
  async extendChunk(
    gap: Gap,
    from: number,
    chunk: number,
    expiresAt: string,
    lockRowsFirst: boolean,
  ): Promise<{ agentId: string }[]> {
    const picked = `(select agent_id from agent_record where ${LAPSED} order by expires_at limit ?)`;
    const among = lockRowsFirst ? pickedInOrder(picked) : `agent_id in ${picked}`;
    return this.em
      .getConnection()
      .execute<{ agentId: string }[]>(
        `/* restart grace */ update agent_record set expires_at = ${expiresAt} ` +
          `where ${among} and ${LAPSED} returning agent_id as "agentId"`,
        [from, gap.from, gap.to, chunk, gap.from, gap.to],
        'all',
      );
  }

  private execute<T extends unknown[] = unknown[]>(
    sql: string,
    params: unknown[],
    method: 'all' | 'run' = 'all',
  ): Promise<T> {
    return this.em.getConnection().execute<T>(sql, params, method, this.em.getTransactionContext());
  }
}
