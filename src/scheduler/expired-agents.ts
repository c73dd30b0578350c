import { EntityManager } from '@mikro-orm/knex';
import { Injectable, Logger } from '@nestjs/common';
import { Clock } from '../common/clock';
import { retryingConflicts } from '../database/retry-conflicts';
import { lockRevision } from '../registry/persistence/event-log';
import { AgentRecord } from '../registry/persistence/agent-record.entity';
import { toAgentInfo } from '../registry/persistence/agent-rows';
import { Dialect, dialectOf } from '../database/dialect';
import { RegistryEvents } from '../registry/registry-events';
import { ChunkStart, deleteExpiredChunk, HeldAgents } from './expired-agents.repository';

/** Most agents one cleanup statement deletes. */
export const CLEANUP_CHUNK = 500;

/** The cleanup's removal of the agents whose leases ran out (its SQL: deleteExpiredChunk, expired-agents.repository.ts). */
@Injectable()
export class ExpiredAgents {
  private readonly dialect: Dialect;
  private readonly logger = new Logger('Cleanup');

  constructor(
    private readonly em: EntityManager,
    private readonly events: RegistryEvents,
    private readonly clock: Clock,
  ) {
    this.dialect = dialectOf(em.getDriver());
  }

  /**
   * Deletes every agent whose lease ran out, CLEANUP_CHUNK at a time: one statement for 100,000 agents held the event
   * loop for over 100 ms while it built their rows, and SQLite's one connection from every other write. Each chunk's
   * agents are picked through the expires_at index (in its order, with a limit: no sort of every expired row) and, on
   * PostgreSQL, locked in agent_id order as heartbeat batches lock them (see pickedInOrder), so the two cannot
   * deadlock; a deadlock or serialization failure that still happens is retried. Each chunk re-checks `expires_at` on
   * the row it deletes, so a heartbeat that commits while the chunk is being picked keeps its agent. Each chunk
   * records its `expired` events in its own transaction, and the event loop is yielded between chunks. Returns the
   * ids removed. Replicas cleaning at once take turns on the revision counter, and each deletes, and returns, what
   * the others did not. The agents of `held` groups (see ExpiryGuard) stay, and only leases that ran out by `at`
   * (the instant the guard judged; now by default) go. Each chunk picks after the last row the one before took, in
   * (expires_at, agent_id) order: the rows before it were deleted or are held, and held rows, usually the oldest,
   * are not read again by every chunk.
   */
  async remove(held?: HeldAgents, at?: number): Promise<string[]> {
    const now = at ?? this.clock.now().getTime();
    const lockInOrder = this.dialect === 'postgresql';
    const removed: string[] = [];
    let after: ChunkStart | undefined;
    for (;;) {
      const {
        records: chunk,
        changes,
        revision,
      } = await retryingConflicts(this.logger, 'A cleanup chunk', () =>
        this.em.fork().transactional(async (tx) => {
          const counter = await lockRevision(tx);
          const records = await deleteExpiredChunk(tx, { now, after, held, limit: CLEANUP_CHUNK, lockInOrder });
          const changes = records.map((record) => ({
            type: 'expired' as const,
            agentId: record.agentId,
            previous: toAgentInfo(record, now),
          }));
          return { records, changes, revision: await counter.append(changes, now) };
        }),
      );
      // Each chunk is its own transaction: its events go out once it committed.
      if (changes.length > 0) this.events.committed(changes, revision, now);
      removed.push(...chunk.map((record) => record.agentId));
      if (chunk.length < CLEANUP_CHUNK) return removed;
      after = chunk.reduce((last, record) => (keyAfter(record, last) ? record : last));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}

/**
 * Whether `a` comes after `b` in the cleanup's (expires_at, agent_id) order. agent_id is ASCII (AGENT_ID_PATTERN),
 * compared bytewise by SQLite and by PostgreSQL (collate "C"), as by JavaScript.
 */
function keyAfter(a: AgentRecord, b: AgentRecord): boolean {
  return a.expiresAt > b.expiresAt || (a.expiresAt === b.expiresAt && a.agentId > b.agentId);
}
