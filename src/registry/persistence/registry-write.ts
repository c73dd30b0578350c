import { ForbiddenException, NotFoundException } from '@nestjs/common';
import { Principal } from '../../auth/auth.guard';
import { OwnedAgents } from '../agent-quota';
import { AgentRecord } from './agent-record.entity';
import type { Lease } from './agent.repository';
import { Registration, textLength } from './agent-rows';
import { Change } from './event-log';

/**
 * Who writes: a key (see AuthGuard), or nobody in particular (protected mode, auth off), whose writes are not checked
 * against ownership and claim nothing.
 */
export type Writer = Principal | undefined;

/** One write of the registry, as queued for a group commit (see RegistryWriter). */
export type RegistryWrite =
  | { kind: 'register'; agentId: string; registration: Registration; writer: Writer }
  | { kind: 'heartbeat'; agentId: string; writer: Writer }
  | { kind: 'deregister'; agentId: string; writer: Writer };
export type RegistryWriteResult = AgentRecord | Lease | true;

/**
 * Most rows one statement writes: it keeps every statement (15 values a row for agent_record) far below both
 * dialects' limits on bound parameters (SQLite 32,766, PostgreSQL 65,535). The side tables' inserts keep a cap of their
 * own (agent-facets.ts), set by SQLite's 500-term limit on the compound SELECT MikroORM builds for them.
 */
export const MAX_ROWS_PER_STATEMENT = 500;

/** Memory the queued writes may hold, whatever WRITE_QUEUE_MAX allows in count. */
export const MAX_QUEUED_BYTES = 64 * 1024 * 1024;

/** The agents a batch writes, as the batch goes: loaded (and on PostgreSQL locked) first, then kept current. */
export type Agents = Map<string, AgentRecord>;

/** What a batch's statements share: its agents, how many its writers own (AGENT_QUOTA), the events it records. */
export interface BatchState {
  agents: Agents;
  owned: OwnedAgents;
  changes: Change[];
}

/**
 * Splits a batch, in order, into runs that one statement each can write: consecutive writes of one kind, each on a
 * different agent, at most MAX_ROWS_PER_STATEMENT of them. A second write on an agent starts a new run, so it sees
 * the first (register, then heartbeat).
 */
export function statementRuns(writes: RegistryWrite[]): RegistryWrite[][] {
  const runs: RegistryWrite[][] = [];
  let run: RegistryWrite[] = [];
  let ids = new Set<string>();
  for (const write of writes) {
    const full = run.length >= MAX_ROWS_PER_STATEMENT;
    if (run.length > 0 && (full || write.kind !== run[0].kind || ids.has(write.agentId))) {
      runs.push(run);
      run = [];
      ids = new Set();
    }
    run.push(write);
    ids.add(write.agentId);
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

/** About what a queued write holds in memory (JavaScript strings are UTF-16). */
export function writeBytes(write: RegistryWrite): number {
  if (write.kind !== 'register') return 2 * write.agentId.length;
  return 2 * textLength(write.registration) + 64;
}

export function agentNotFound(agentId: string): NotFoundException {
  return new NotFoundException(`Agent not found: ${agentId}`);
}

export function ownedByAnother(agentId: string): ForbiddenException {
  return new ForbiddenException(`Agent ${agentId} belongs to another API key.`);
}
