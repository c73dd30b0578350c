import { EntityManager } from '@mikro-orm/knex';
import { Principal } from '../auth/auth.guard';
import { QuotaExceededException } from '../common/quota-exceeded.exception';
import type { AuthSection } from '../auth/auth.config';
import type { RegistrySection } from './registry.config';
import { mayWriteAny } from '../auth/ownership';
import { countOwned } from './persistence/agent.repository';
import { AgentRecord } from './persistence/agent-record.entity';

/**
 * How many agents a key may own: its own `agents=` in the keys file, else AGENT_QUOTA; undefined for no quota.
 * Admin keys have none, and neither do writes without a key (protected mode, auth off): they own nothing.
 */
export function agentQuotaOf(
  writer: Principal | undefined,
  config: RegistrySection & AuthSection,
): AgentQuota | undefined {
  if (mayWriteAny(writer)) return undefined;
  // The keys as now in force: SIGHUP replaces them in place (KeysFileReload).
  const own = config.auth.keys.find((key) => key.name === writer.name)?.agentQuota;
  if (own === 'off') return undefined;
  if (own !== undefined) return { limit: own, source: `quota in the keys file (agents=${own})` };
  const limit = config.quotas.agentsPerKey;
  return limit === undefined ? undefined : { limit, source: 'AGENT_QUOTA' };
}

export interface AgentQuota {
  limit: number;
  /** Where the limit comes from, for the 429's detail. */
  source: string;
}

/**
 * The agents each writing key owns, counted inside a write batch's transaction after it took the revision counter:
 * every batch that registers or deregisters holds that lock until it commits (on PostgreSQL across replicas), so
 * no other batch adds agents between the count and the commit, and the batch keeps the counts current as it
 * writes. Every row counts, expired ones cleanup has not removed yet too: they take the same disk. Rows only leave
 * outside that lock (cleanup), which can only make a count too high for a moment, never too low.
 */
export class OwnedAgents {
  private constructor(
    private readonly counts: Map<string, number>,
    private readonly quotas: Map<string, AgentQuota>,
  ) {}

  /** Counts the agents of the writers that have a quota (see countOwned). */
  static async count(
    tx: EntityManager,
    writers: (Principal | undefined)[],
    config: RegistrySection & AuthSection,
  ): Promise<OwnedAgents> {
    const quotas = new Map<string, AgentQuota>();
    for (const writer of writers) {
      const quota = agentQuotaOf(writer, config);
      if (quota) quotas.set(writer!.name, quota);
    }
    const counts = await countOwned(tx, [...quotas.keys()]);
    return new OwnedAgents(counts, quotas);
  }

  /**
   * Whether `writer` may register an agent stored as `before` (undefined: a new one): counted, or the 429 to answer.
   * Only an agent the key does not own yet counts; a re-registration of its own is never refused.
   */
  take(writer: Principal | undefined, before: AgentRecord | undefined): QuotaExceededException | undefined {
    const quota = writer && this.quotas.get(writer.name);
    if (!quota || before?.owner === writer.name) return undefined;
    const owned = this.counts.get(writer.name) ?? 0;
    if (owned >= quota.limit) {
      return new QuotaExceededException(
        `Key ${writer.name} owns ${owned} agents, its ${quota.source}: ` +
          'deregister agents or ask for a larger quota.',
      );
    }
    this.counts.set(writer.name, owned + 1);
    return undefined;
  }

  /** An agent of `owner` was deleted in the batch. */
  release(owner: string | null | undefined): void {
    const owned = owner ? this.counts.get(owner) : undefined;
    if (owned !== undefined) this.counts.set(owner!, owned - 1);
  }
}
