import { BigIntType, Entity, PrimaryKey, Property } from '@mikro-orm/core';

/** One change of the registry, in the change feed, kept for EVENTS_RETENTION. */
@Entity({ tableName: 'agent_event' })
export class AgentEvent {
  /** Registry-wide, gapless: taken from registry_revision in the transaction that made the change. */
  @PrimaryKey({ type: new BigIntType('number'), autoincrement: false })
  revision!: number;

  @Property({ length: 16 })
  type!: string;

  @Property({ length: 255 })
  agentId!: string;

  @Property({ type: new BigIntType('number') })
  at!: number;

  /** The agent after the change (AgentInfo as JSON), for `registered` and `updated`. */
  @Property({ type: 'text', nullable: true })
  agent?: string | null;

  /** The agent before the change (AgentInfo as JSON), for `updated`, `deregistered` and `expired`: watchers with filters see an agent leave them. */
  @Property({ type: 'text', nullable: true })
  previous?: string | null;
}

/**
 * The registry's one revision counter, a single row. Every transaction that records events updates it, so on
 * PostgreSQL they take its row lock one at a time and commit in revision order: a reader that sees revision N
 * committed has seen every revision below N.
 */
@Entity({ tableName: 'registry_revision' })
export class RegistryRevision {
  @PrimaryKey({ autoincrement: false })
  id!: number;

  @Property({ type: new BigIntType('number') })
  revision!: number;

  /** Events before this revision have been pruned (the one at it is kept): resuming from below it is a 410. */
  @Property({ type: new BigIntType('number') })
  prunedThrough!: number;
}
