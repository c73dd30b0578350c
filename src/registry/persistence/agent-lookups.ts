import { EntityManager } from '@mikro-orm/knex';
import { Outcome, WriteBatcher } from '../../database/write-batcher';
import { agentsWithIds } from './agent.repository';
import { AgentRecord } from './agent-record.entity';
import { MAX_QUEUED_BYTES, MAX_ROWS_PER_STATEMENT } from './registry-write';

/**
 * Lookups of one agent that arrive together share one query: on SQLite every query waits its turn on the one
 * connection, and 50 concurrent `GET /agents/{id}` cost 50 turns. Rows as plain records, not entities: nothing here
 * needs an identity map or a per-request ORM context, so the registry registers none (see DatabaseModule).
 */
export class AgentLookups {
  private readonly batcher: WriteBatcher<string, AgentRecord | undefined>;

  constructor(
    private readonly em: EntityManager,
    maxQueue: number,
  ) {
    this.batcher = new WriteBatcher({
      flush: (ids) => this.findMany(ids),
      maxBatch: MAX_ROWS_PER_STATEMENT,
      maxQueue,
      maxQueueBytes: MAX_QUEUED_BYTES,
      sizeOf: (id) => 2 * id.length,
      // A read has no error of its own: whatever failed, failed for all of them.
      failsWholeBatch: () => true,
    });
  }

  /** The agent, or undefined if it is not registered. */
  find(agentId: string): Promise<AgentRecord | undefined> {
    return this.batcher.submit(agentId);
  }

  /** Shutdown: refuse new lookups, answer the queued ones. */
  close(): Promise<void> {
    return this.batcher.close();
  }

  /** One query for a batch of lookups: each gets its agent, or undefined. */
  private async findMany(ids: string[]): Promise<Outcome<AgentRecord | undefined>[]> {
    const found = new Map((await agentsWithIds(this.em, [...new Set(ids)])).map((record) => [record.agentId, record]));
    return ids.map((id) => ({ ok: true, value: found.get(id) }));
  }
}
