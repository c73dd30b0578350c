import { BigIntType, Entity, Index, PrimaryKey, Property } from '@mikro-orm/core';

/**
 * One registered agent and its lease. Timestamps are epoch milliseconds in a bigint column on every dialect, so the
 * lease arithmetic (`expires_at = last_heartbeat + ttl_seconds * 1000`) is one portable SQL expression.
 * Capabilities, labels and the card are stored here as JSON, as the agent sent them; the side tables below hold the
 * same facts once more, indexed, for the query filters.
 */
@Entity({ tableName: 'agent_record' })
export class AgentRecord {
  @PrimaryKey({ length: 255 })
  agentId!: string;

  @Property({ length: 256 })
  agentName!: string;

  @Property({ length: 256 })
  host!: string;

  @Property()
  port!: number;

  @Property()
  ttlSeconds!: number;

  @Property({ type: 'text', nullable: true })
  metadata?: string | null;

  /** JSON array of strings. */
  @Property({ type: 'text', default: '[]' })
  capabilities!: string;

  /** JSON object of string pairs. */
  @Property({ type: 'text', default: '{}' })
  labels!: string;

  /** The A2A Agent Card as JSON, or null. */
  @Property({ type: 'text', nullable: true })
  agentCard?: string | null;

  /** agent_name in lower case: `name=` matches a substring of it. */
  @Property({ type: 'text', default: '' })
  searchName!: string;

  /** Name, card description, and skills' names, descriptions and tags, in lower case: `q=` matches a substring of it. */
  @Property({ type: 'text', default: '' })
  searchText!: string;

  /**
   * The name of the API key that registered the agent first; null when it was registered without keys. Indexed:
   * AGENT_QUOTA counts a key's agents.
   */
  @Index({ name: 'agent_record_owner_idx' })
  @Property({ length: 64, nullable: true })
  owner?: string | null;

  @Property({ type: new BigIntType('number') })
  registeredAt!: number;

  @Property({ type: new BigIntType('number') })
  lastHeartbeat!: number;

  /** The cleanup job deletes by this column, hence the index. */
  @Index({ name: 'agent_record_expires_at_idx' })
  @Property({ type: new BigIntType('number') })
  expiresAt!: number;
}

/** One capability of an agent; the index finds the agents with a capability in agent_id order. */
@Entity({ tableName: 'agent_capability' })
@Index({ name: 'agent_capability_capability_idx', properties: ['capability', 'agentId'] })
export class AgentCapability {
  @PrimaryKey({ length: 255 })
  agentId!: string;

  @PrimaryKey({ length: 64 })
  capability!: string;
}

/** One label of an agent; the index finds the agents with a label in agent_id order. */
@Entity({ tableName: 'agent_label' })
@Index({ name: 'agent_label_name_value_idx', properties: ['name', 'value', 'agentId'] })
export class AgentLabel {
  @PrimaryKey({ length: 255 })
  agentId!: string;

  @PrimaryKey({ length: 63 })
  name!: string;

  @Property({ length: 256 })
  value!: string;
}

/** One skill id or skill tag of an agent's card; the index finds the agents with a skill in agent_id order. */
@Entity({ tableName: 'agent_skill' })
@Index({ name: 'agent_skill_term_idx', properties: ['term', 'agentId'] })
export class AgentSkill {
  @PrimaryKey({ length: 255 })
  agentId!: string;

  @PrimaryKey({ type: 'text' })
  term!: string;
}
