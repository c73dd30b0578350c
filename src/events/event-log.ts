import { EntityManager } from '@mikro-orm/knex';
import { lockSingletonRow } from '../database/lock-singleton-row';
import { AgentInfo } from '../registry/dto/agent-info.dto';
import { AgentEvent } from './agent-event.entity';

export const EVENT_TYPES = ['registered', 'updated', 'deregistered', 'expired'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** A change as a write records it: the agent after it (registered, updated) and before it (updated, removed). */
export interface Change {
  type: EventType;
  agentId: string;
  agent?: AgentInfo;
  previous?: AgentInfo;
}

/** A recorded change, as the feed reads it back. */
export interface StoredEvent extends Change {
  revision: number;
  at: number;
}

/** Most events one insert writes (SQLite's 500-term limit on the compound SELECT of a multi-row insert). */
const EVENTS_PER_INSERT = 500;

/**
 * The revision counter, locked for the rest of the transaction. Take it first, before any row lock, in every
 * transaction that records events: on PostgreSQL they then run one at a time, in the order they commit, so
 * revisions are gapless and never become visible out of order (see RegistryRevision). On SQLite the one connection
 * already runs transactions one at a time.
 */
export async function lockRevision(em: EntityManager): Promise<RevisionCounter> {
  const row = await lockSingletonRow<{ revision: number | string }>(em, 'registry_revision', 'revision', 'revision');
  return new RevisionCounter(em, Number(row.revision));
}

export class RevisionCounter {
  constructor(
    private readonly em: EntityManager,
    private revision: number,
  ) {}

  /** Records the changes under the next revisions, all stamped `at`; resolves with the last revision. */
  async append(changes: Change[], at: number): Promise<number> {
    if (changes.length === 0) return this.revision;
    const rows = changes.map((change, i) => ({
      revision: this.revision + i + 1,
      type: change.type,
      agentId: change.agentId,
      at,
      agent: change.agent ? JSON.stringify(change.agent) : null,
      previous: change.previous ? JSON.stringify(change.previous) : null,
    }));
    for (let i = 0; i < rows.length; i += EVENTS_PER_INSERT) {
      await this.em
        .createQueryBuilder(AgentEvent)
        .insert(rows.slice(i, i + EVENTS_PER_INSERT))
        .execute('run');
    }
    this.revision += changes.length;
    await this.em
      .getConnection()
      .execute(
        'update registry_revision set revision = ? where id = 1',
        [this.revision],
        'run',
        this.em.getTransactionContext(),
      );
    return this.revision;
  }
}

/** The current revision and the last pruned one, in one read. */
export async function revisionState(em: EntityManager): Promise<{ revision: number; prunedThrough: number }> {
  const [row] = await em
    .getConnection()
    .execute<{ revision: number | string; pruned_through: number | string }[]>(
      'select revision, pruned_through from registry_revision where id = 1',
      [],
      'all',
      em.getTransactionContext(),
    );
  return { revision: Number(row.revision), prunedThrough: Number(row.pruned_through) };
}

/** Events after `revision`, oldest first, at most `limit`. */
export async function eventsAfter(em: EntityManager, revision: number, limit: number): Promise<StoredEvent[]> {
  const rows = await em.getConnection().execute<
    {
      revision: number | string;
      type: EventType;
      agent_id: string;
      at: number | string;
      agent: string | null;
      previous: string | null;
    }[]
  >('select revision, type, agent_id, at, agent, previous from agent_event where revision > ? order by revision limit ?', [revision, limit]);
  return rows.map((row) => ({
    revision: Number(row.revision),
    type: row.type,
    agentId: row.agent_id,
    at: Number(row.at),
    agent: row.agent ? (JSON.parse(row.agent) as AgentInfo) : undefined,
    previous: row.previous ? (JSON.parse(row.previous) as AgentInfo) : undefined,
  }));
}

/** Most events one pruning statement deletes, so a long backlog never holds the writer's connection for long. */
export const PRUNE_CHUNK = 5000;

/**
 * Deletes the events committed before `cutoff`, oldest first, PRUNE_CHUNK at a time, and moves `pruned_through`
 * with each chunk in the same transaction: a watcher that asks for a pruned revision is told so (410), never
 * handed a gap. Events are pruned by revision (a prefix of the log), so a replica whose clock is behind cannot leave
 * a hole. Returns how many were deleted.
 */
export async function pruneEvents(
  em: EntityManager,
  cutoff: number,
  dialect: 'sqlite' | 'postgresql',
): Promise<number> {
  const [greatest, least] = dialect === 'sqlite' ? ['max', 'min'] : ['greatest', 'least'];
  const [last] = await em
    .getConnection()
    .execute<{ revision: number | string | null }[]>('select max(revision) as revision from agent_event where at < ?', [
      cutoff,
    ]);
  if (last.revision === null) return 0;
  const through = Number(last.revision);
  let deleted = 0;
  for (;;) {
    const upTo = await em.fork().transactional<number>(async (tx) => {
      // The write first: on SQLite it takes the write lock before anything is read.
      const [row] = await tx
        .getConnection()
        .execute<{ pruned_through: number | string }[]>(
          `/* prune */ update registry_revision set pruned_through = ${greatest}(pruned_through, ` +
            `${least}(?, pruned_through + ?)) where id = 1 returning pruned_through`,
          [through, PRUNE_CHUNK],
          'all',
          tx.getTransactionContext(),
        );
      const upTo = Number(row.pruned_through);
      const result = await tx
        .getConnection()
        .execute<{ affectedRows?: number }>(
          'delete from agent_event where revision <= ?',
          [upTo],
          'run',
          tx.getTransactionContext(),
        );
      deleted += result.affectedRows ?? 0;
      return upTo;
    });
    if (upTo >= through) return deleted;
  }
}
