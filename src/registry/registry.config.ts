import { Matches } from 'class-validator';
import { ConfigSection, Problems } from '../config/environment';
import { COUNT_OR_OFF, countRule, IntegerBetween, parseCount } from '../config/parsers';

export interface RegistrySection {
  /** Most writes one group commit takes. */
  writeBatchMax: number;
  /** Most writes waiting for a group commit before new ones get 503. */
  writeQueueMax: number;
  /**
   * Agents one key may hold, all replicas together (AGENT_QUOTA; a key's own `agents=` in the keys file wins; see
   * AgentQuota). Undefined: no limit.
   */
  quotas: { agentsPerKey?: number };
}

const AGENT_QUOTA_RULE = countRule('agents');

class RegistryVariables {
  @IntegerBetween(1, 5000)
  WRITE_BATCH_MAX: number = 500;

  @IntegerBetween(1, 1_000_000)
  WRITE_QUEUE_MAX: number = 10_000;

  @Matches(COUNT_OR_OFF, { message: `must be ${AGENT_QUOTA_RULE}` })
  AGENT_QUOTA: string = '10000';
}

export const registrySection: ConfigSection<RegistryVariables, RegistrySection> = {
  variables: RegistryVariables,
  slice(vars: RegistryVariables, problems: Problems): RegistrySection {
    return {
      writeBatchMax: vars.WRITE_BATCH_MAX,
      writeQueueMax: vars.WRITE_QUEUE_MAX,
      quotas: { agentsPerKey: parseCount('AGENT_QUOTA', vars.AGENT_QUOTA, AGENT_QUOTA_RULE, problems) },
    };
  },
};
