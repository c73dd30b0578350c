import { RequestValidationException } from '../common/request-validation.pipe';
import { AgentFilter } from './discovery';
import { AgentInfo } from './dto/agent-info.dto';
import { AgentRecord } from './persistence/agent-record.entity';
import { storedBytes } from './persistence/agent-rows';

/** What `GET /agents` asks for. */
export interface AgentListQuery {
  filter: AgentFilter;
  includeDead: boolean;
  limit?: number;
  cursor?: string;
  /** Show each agent's owner (to admin keys). */
  withOwner?: boolean;
}

/** One answer to `GET /agents`: the agents, the registry revision they reflect, and where the next page starts. */
export interface AgentList {
  agents: AgentInfo[];
  revision: number;
  /** That revision's position (see Position): what a watch passes as `since`. */
  position: string;
  /** The cursor of the next page; absent on the last. */
  next?: string;
}

/**
 * A full list (`GET /agents` without `limit`): the revision it starts from, its first agents (up to LIST_CHUNK), and,
 * when more match, the rest a chunk at a time, read as they are asked for. Each agent in the form `shape` makes.
 */
export interface FullAgentList<T> {
  revision: number;
  /** That revision's position (see Position): what a watch passes as `since`. */
  position: string;
  agents: T[];
  /** Absent when `agents` is all of them. */
  rest?: AsyncGenerator<T[]>;
}

/** What a full list makes of each agent it reads: toAgentInfo, or toAgentJson (its JSON text). */
export type AgentShape<T> = (record: AgentRecord, now: number, withOwner?: boolean) => T;

/**
 * Most agents a full list reads per statement, and whether a list is sent whole: a list of LIST_CHUNK agents or
 * fewer is one read and one answer with Content-Length.
 */
export const LIST_CHUNK = 100;

/**
 * About how many bytes of stored agents a full list reads per statement after its first: LIST_CHUNK agents of 64 KiB
 * cards (the most one may register) were 6.5 MB a statement, held while the client took them. Fewer agents are read
 * per statement when the previous statement's were large (at least one).
 */
export const LIST_CHUNK_BYTES = 256 * 1024;

/** How many agents like `records` make about LIST_CHUNK_BYTES: between 1 and LIST_CHUNK. */
export function chunkRows(records: AgentRecord[]): number {
  const bytes = records.reduce((sum, record) => sum + storedBytes(record), 0);
  return Math.max(1, Math.min(LIST_CHUNK, Math.floor((LIST_CHUNK_BYTES * records.length) / bytes)));
}

export function refuseCursorWithoutLimit(query: AgentListQuery): void {
  if (query.cursor !== undefined && query.limit === undefined) {
    throw new RequestValidationException([{ field: 'cursor', in: 'query', detail: 'cursor is only valid with limit' }]);
  }
}
