import { DatabaseFeature } from '../database/database-feature';
import { AgentEvent, RegistryRevision } from './persistence/agent-event.entity';
import { AgentCapability, AgentLabel, AgentRecord, AgentSkill } from './persistence/agent-record.entity';

/**
 * The registry's tables: the agents and their side tables, and the event log its writes append to. Their migrations
 * are the core's (src/migrations), which created them before modules declared their own.
 */
export const REGISTRY_DATABASE: DatabaseFeature = {
  entities: [AgentRecord, AgentCapability, AgentLabel, AgentSkill, AgentEvent, RegistryRevision],
};
