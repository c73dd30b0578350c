import { agentColumns } from './agent-rows';
import { AgentFilter } from './discovery';

export type Dialect = 'sqlite' | 'postgresql';

/** A page of a query: agents after `after` (by agent_id), at most `limit`; alive ones only unless `includeDead`. */
export interface AgentSelection {
  filter: AgentFilter;
  includeDead: boolean;
  now: number;
  after?: string;
  limit?: number;
}

/**
 * The SQL of a query, filters included (their meaning is matchesFilter's, in discovery.ts). A page must cost what
 * it returns, not what the registry holds, at 1,000,000 agents as at 10: so the first capability, label or skill
 * filter drives the query through its side table's index, which yields agent_ids in order from the cursor on, and
 * every other filter is a check on each row found (an indexed EXISTS, or a substring of a lower-case column).
 * Without such a filter, agent_record's primary key drives it. `name=` and `q=` alone scan until the page is full.
 */
export function selectAgentsSql(selection: AgentSelection, dialect: Dialect): { sql: string; params: unknown[] } {
  const { filter } = selection;
  const checks: { sql: string; params: unknown[] }[] = [
    ...filter.capabilities.map((capability) => ({
      sql: 'exists (select 1 from agent_capability c where c.agent_id = r.agent_id and c.capability = ?)',
      params: [capability],
    })),
    ...filter.labels.map(([name, value]) => ({
      sql: 'exists (select 1 from agent_label l where l.agent_id = r.agent_id and l.name = ? and l.value = ?)',
      params: [name, value],
    })),
    ...(filter.skill === undefined
      ? []
      : [
          {
            sql: 'exists (select 1 from agent_skill s where s.agent_id = r.agent_id and s.term = ?)',
            params: [filter.skill],
          },
        ]),
  ];
  // The first indexed filter becomes the driving table (`d`); its EXISTS check is then implied.
  const driver = drivingTable(filter);
  if (driver) checks.shift();
  const contains = dialect === 'sqlite' ? 'instr' : 'strpos';
  if (filter.name !== undefined) checks.push({ sql: `${contains}(r.search_name, ?) > 0`, params: [filter.name] });
  if (filter.q !== undefined) checks.push({ sql: `${contains}(r.search_text, ?) > 0`, params: [filter.q] });
  if (!selection.includeDead) checks.push({ sql: 'r.expires_at > ?', params: [selection.now] });

  const key = driver ? 'd.agent_id' : 'r.agent_id';
  if (selection.after !== undefined) checks.push({ sql: `${key} > ?`, params: [selection.after] });

  const from = driver ? `${driver.table} d join agent_record r on r.agent_id = d.agent_id` : 'agent_record r';
  const where = [...(driver ? [driver.where] : []), ...checks.map((check) => check.sql)];
  const params = [...(driver?.params ?? []), ...checks.flatMap((check) => check.params)];
  let sql = `select ${agentColumns('r.')} from ${from}`;
  if (where.length > 0) sql += ` where ${where.join(' and ')}`;
  sql += ` order by ${key}`;
  if (selection.limit !== undefined) {
    sql += ' limit ?';
    params.push(selection.limit);
  }
  return { sql, params };
}

function drivingTable(filter: AgentFilter): { table: string; where: string; params: unknown[] } | undefined {
  if (filter.capabilities.length > 0) {
    return { table: 'agent_capability', where: 'd.capability = ?', params: [filter.capabilities[0]] };
  }
  if (filter.labels.length > 0) {
    const [name, value] = filter.labels[0];
    return { table: 'agent_label', where: 'd.name = ? and d.value = ?', params: [name, value] };
  }
  if (filter.skill !== undefined) return { table: 'agent_skill', where: 'd.term = ?', params: [filter.skill] };
  return undefined;
}
