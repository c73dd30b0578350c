import { EntityManager } from '@mikro-orm/knex';
import { bigintValue } from '../../database/bigint';
import { createHash } from 'node:crypto';
import { lockSingletonRow } from '../../database/lock-singleton-row';
import { runBound, valuesPlaceholders } from '../../database/bound-sql';
import { AgentInfo } from '../dto/agent-info.dto';
import { Dialect } from '../../database/dialect';

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
  /** Tells this event from another recorded at the same revision by another history of the log (see fingerprint). */
  fingerprint: string;
}

/**
 * A position in the log: a revision, and the fingerprint of the event at it. A revision alone cannot tell two
 * histories apart: a database restored from a backup, or a failover to a replica that lagged, reuses revision numbers
 * for other events, and nothing notices that it happened. The fingerprint does: the same event (a standby that has it)
 * has the same one, another event at that revision another. Written `<revision>.<fingerprint>`; revision 0 (the empty
 * log, before every event of every history) is `0` alone, and so is a plain revision from a client that predates
 * positions (it is not checked).
 */
export interface Position {
  revision: number;
  fingerprint?: string;
}

const POSITION = /^(\d{1,15})(?:\.([0-9a-f]{8}))?$/;

/** A position as sent (`since`, Last-Event-ID), or undefined when it is not one. */
export function parsePosition(value: string): Position | undefined {
  const match = POSITION.exec(value.trim());
  if (!match) return undefined;
  return { revision: Number(match[1]), ...(match[2] === undefined ? {} : { fingerprint: match[2] }) };
}

export function formatPosition(position: Position): string {
  return position.fingerprint === undefined
    ? String(position.revision)
    : `${position.revision}.${position.fingerprint}`;
}

/** An event's position. */
export function positionOf(event: StoredEvent): string {
  return formatPosition(event);
}

export interface EventRow {
  revision: number | string;
  type: EventType;
  agent_id: string;
  at: number | string;
  agent: string | null;
  previous: string | null;
}

/**
 * The first 8 hex digits of SHA-256 over the event as stored (revision, type, agent, time, the agent's JSON before and
 * after). Computed when read: no column, no migration, and it holds for every event already recorded. The agent's
 * JSON (with its registration time and lease) and `at` (milliseconds) make two different events alike only by chance.
 */
function fingerprint(row: EventRow): string {
  const fields = [bigintValue(row.revision), row.type, row.agent_id, bigintValue(row.at), row.agent, row.previous];
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex').slice(0, 8);
}

/**
 * An event as read back. The feed reads every event that any replica records; while no watcher is connected it needs
 * only their revisions, and the fingerprints of the first and last of each read. So the agents' JSON is parsed, and
 * the fingerprint hashed, when first asked for, then kept; once all three are, the row is let go, so an event kept in
 * the feed's memory does not hold its agents twice. They are own enumerable getters: spreading or serialising the
 * event sees them as plain fields.
 */
export function fromEventRow(stored: EventRow): StoredEvent {
  let row: EventRow | undefined = stored;
  let agent: AgentInfo | undefined;
  let previous: AgentInfo | undefined;
  let hashed: string | undefined;
  const settle = () => {
    if (hashed !== undefined && (agent !== undefined || !row?.agent) && (previous !== undefined || !row?.previous)) {
      row = undefined;
    }
  };
  return {
    revision: bigintValue(stored.revision),
    type: stored.type,
    agentId: stored.agent_id,
    at: bigintValue(stored.at),
    get agent() {
      if (agent === undefined && row?.agent) {
        agent = JSON.parse(row.agent) as AgentInfo;
        settle();
      }
      return agent;
    },
    get previous() {
      if (previous === undefined && row?.previous) {
        previous = JSON.parse(row.previous) as AgentInfo;
        settle();
      }
      return previous;
    },
    get fingerprint() {
      if (hashed === undefined) {
        hashed = fingerprint(row!);
        settle();
      }
      return hashed;
    },
  };
}

const EVENT_COLUMNS = 'revision, type, agent_id, at, agent, previous';
const EVENT_COLUMN_COUNT = 6;

/** Most events one insert writes: 3,000 parameters, well inside SQLite's 32,766 and PostgreSQL's 65,535. */
const EVENTS_PER_INSERT = 500;

/**
 * The revision counter, locked for the rest of the transaction. Take it first, before any row lock, in every
 * transaction that records events: on PostgreSQL they then run one at a time, in the order they commit, so
 * revisions are gapless and never become visible out of order (see RegistryRevision). On SQLite the one connection
 * already runs transactions one at a time.
 */
export async function lockRevision(em: EntityManager): Promise<RevisionCounter> {
  const row = await lockSingletonRow<{ revision: number | string }>(em, 'registry_revision', 'revision', 'revision');
  return new RevisionCounter(em, bigintValue(row.revision));
}

export class RevisionCounter {
  constructor(
    private readonly em: EntityManager,
    private revision: number,
  ) {}

  /** Records the changes under the next revisions, all stamped `at`; resolves with the last revision. */
  async append(changes: Change[], at: number): Promise<number> {
    if (changes.length === 0) return this.revision;
    for (let i = 0; i < changes.length; i += EVENTS_PER_INSERT) {
      const rows = changes.slice(i, i + EVENTS_PER_INSERT);
      const params = rows.flatMap((change, j) => [
        this.revision + i + j + 1,
        change.type,
        change.agentId,
        at,
        change.agent ? JSON.stringify(change.agent) : null,
        change.previous ? JSON.stringify(change.previous) : null,
      ]);
      await runBound(
        this.em,
        `insert into agent_event (${EVENT_COLUMNS}) values ${valuesPlaceholders(rows.length, EVENT_COLUMN_COUNT)}`,
        params,
      );
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
  return { revision: bigintValue(row.revision), prunedThrough: bigintValue(row.pruned_through) };
}

/** Events after `revision`, oldest first, at most `limit`. */
export async function eventsAfter(em: EntityManager, revision: number, limit: number): Promise<StoredEvent[]> {
  const rows = await em
    .getConnection()
    .execute<EventRow[]>(
      `select ${EVENT_COLUMNS} from agent_event where revision > ? order by revision limit ?`,
      [revision, limit],
      'all',
      em.getTransactionContext(),
    );
  return rows.map(fromEventRow);
}

/** The event at `revision`, if the log holds it. */
export async function eventAt(em: EntityManager, revision: number): Promise<StoredEvent | undefined> {
  const [row] = await em
    .getConnection()
    .execute<EventRow[]>(
      `select ${EVENT_COLUMNS} from agent_event where revision = ?`,
      [revision],
      'all',
      em.getTransactionContext(),
    );
  return row === undefined ? undefined : fromEventRow(row);
}

/**
 * The position of `revision` (the registry's, read in the same transaction): with the fingerprint of its event, so a
 * client that resumes from it after the log was replaced hears 410. Revision 0 has no event; nor has a revision whose
 * event is gone (a log restored without its events): `<revision>` alone, resumed from unchecked.
 */
export async function positionAt(em: EntityManager, revision: number): Promise<string> {
  if (revision === 0) return '0';
  const event = await eventAt(em, revision);
  return formatPosition({ revision, fingerprint: event?.fingerprint });
}

/** Most events one pruning statement deletes, so a long backlog never holds the writer's connection for long. */
export const PRUNE_CHUNK = 5000;

/**
 * Deletes the events older than `retentionMs`, oldest first, PRUNE_CHUNK at a time, and moves `pruned_through` with
 * each chunk in the same transaction: a watcher that asks for a pruned revision is told so (410), never handed a gap.
 * Returns how many were deleted.
 *
 * Events are pruned as a prefix of the log, read in revision order (the primary key): the chunk ends before the first
 * event not old enough, so no statement scans `at`, and an event stamped early by a writer whose clock was behind
 * cannot take younger events before it with it. "Old enough" is measured from the earlier of `now` (the pruning
 * replica's clock) and the newest event's `at` (the clock of the replica that wrote it): a pruning replica whose
 * clock runs ahead, or one writer's, cannot prune what the other still counts as recent. Both sides of the comparison
 * are replicas' clocks, as `at` is (the database's clock would compare two clocks). The newest event is never
 * pruned, so a reader behind the log always finds the gap (see ChangeFeed.skipped).
 *
 * The event at `pruned_through` itself is kept (until the next chunk passes it): a client whose position is exactly
 * there has missed nothing, and its position can still be checked against the log (see Position); deleting it would
 * make that client list again for nothing.
 */
export async function pruneEvents(
  em: EntityManager,
  now: number,
  retentionMs: number,
  dialect: Dialect,
): Promise<number> {
  const connection = em.getConnection();
  const [newest] = await connection.execute<{ revision: number | string; at: number | string }[]>(
    'select revision, at from agent_event order by revision desc limit 1',
  );
  if (newest === undefined) return 0;
  const cutoff = Math.min(now, Number(newest.at)) - retentionMs;
  const greatest = dialect === 'sqlite' ? 'max' : 'greatest';
  let deleted = 0;
  for (;;) {
    const rows = await connection.execute<{ revision: number | string; at: number | string }[]>(
      'select revision, at from agent_event where revision < ? order by revision limit ?',
      [newest.revision, PRUNE_CHUNK],
    );
    const young = rows.findIndex((row) => bigintValue(row.at) >= cutoff);
    const old = young === -1 ? rows : rows.slice(0, young);
    if (old.length === 0) return deleted;
    const through = Number(old[old.length - 1].revision);
    await em.fork().transactional(async (tx) => {
      // The write first: on SQLite it takes the write lock before anything is read. Another replica pruning at the
      // same time may have moved it further: it never moves back.
      await tx
        .getConnection()
        .execute(
          `update registry_revision set pruned_through = ${greatest}(pruned_through, ?) where id = 1`,
          [through],
          'run',
          tx.getTransactionContext(),
        );
      const result = await tx
        .getConnection()
        .execute<{ affectedRows?: number }>(
          'delete from agent_event where revision < ?',
          [through],
          'run',
          tx.getTransactionContext(),
        );
      deleted += result.affectedRows ?? 0;
    });
    if (old.length < rows.length || rows.length < PRUNE_CHUNK) return deleted;
  }
}
