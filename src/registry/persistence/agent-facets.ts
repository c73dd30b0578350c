import { EntityManager } from '@mikro-orm/knex';
import { AgentCardLike, skillTerms } from '../agent-card';
import { AgentCapability, AgentLabel, AgentSkill } from './agent-record.entity';
import { Registration } from './agent-rows';

/** Most rows one insert writes: SQLite allows 500 terms in the compound SELECT MikroORM builds for a multi-row insert. */
const ROWS_PER_INSERT = 500;

const FACET_TABLES = ['agent_capability', 'agent_label', 'agent_skill'];

/**
 * The side tables that index what agents registered to be found by, one row per capability, label and skill term
 * (a card skill's id or tag). They hold nothing agent_record does not: they are rewritten with every registration
 * that changes them, and deleted with the agent.
 */
export async function writeFacets(
  em: EntityManager,
  registrations: Registration[],
  replacing: string[],
): Promise<void> {
  await deleteFacets(em, replacing);
  const capabilities: AgentCapability[] = [];
  const labels: AgentLabel[] = [];
  const skills: AgentSkill[] = [];
  for (const { agentId, ...registration } of registrations) {
    for (const capability of JSON.parse(registration.capabilities) as string[]) {
      capabilities.push({ agentId, capability });
    }
    for (const [name, value] of Object.entries(JSON.parse(registration.labels) as Record<string, string>)) {
      labels.push({ agentId, name, value });
    }
    const card = registration.agentCard ? (JSON.parse(registration.agentCard) as AgentCardLike) : null;
    for (const term of skillTerms(card)) skills.push({ agentId, term });
  }
  await insertRows(em, AgentCapability, capabilities);
  await insertRows(em, AgentLabel, labels);
  await insertRows(em, AgentSkill, skills);
}

export async function deleteFacets(em: EntityManager, agentIds: string[]): Promise<void> {
  for (let i = 0; i < agentIds.length; i += ROWS_PER_INSERT) {
    const ids = agentIds.slice(i, i + ROWS_PER_INSERT);
    const placeholders = ids.map(() => '?').join(', ');
    for (const table of FACET_TABLES) {
      await em
        .getConnection()
        .execute(`delete from ${table} where agent_id in (${placeholders})`, ids, 'run', em.getTransactionContext());
    }
  }
}

async function insertRows<T extends object>(em: EntityManager, entity: new () => T, rows: T[]): Promise<void> {
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
    await em
      .createQueryBuilder(entity)
      .insert(rows.slice(i, i + ROWS_PER_INSERT))
      .execute('run');
  }
}
