import { bigintValue, StoredBigint } from '../../database/bigint';
import { Dialect } from '../../database/dialect';
import { agentColumns } from './agent-rows';
import { AgentFilter } from '../discovery';

/** A page of a query: agents after `after` (by agent_id), at most `limit`; alive ones only unless `includeDead`. */
export interface AgentSelection {
  filter: AgentFilter;
  includeDead: boolean;
  now: number;
  after?: string;
  limit?: number;
}

/** The agents with one capability, label or skill, in agent_id order: a side table and its index. */
interface Facet {
  table: 'agent_capability' | 'agent_label' | 'agent_skill';
  /** Columns of `alias` equal to `params`. */
  where: (alias: string) => string;
  params: string[];
}

/**
 * What yields the candidate rows of a query, which every filter then checks:
 * - `facet`: one facet's side-table index, in agent_id order from the cursor on;
 * - `search`: the agents whose name or search text holds the `name=` / `q=` terms (SQLite's FTS5 trigram index,
 *   agent_search), in no order, so they are sorted;
 * - `scan`: agent_record's primary key, in agent_id order.
 */
export type QueryDriver = { kind: 'facet'; index: number } | { kind: 'search' } | { kind: 'scan' };

/** How many rows a probe reads of a facet's index, or of the search index, at most. */
export const FACET_PROBE_ROWS = 1000;
export const SEARCH_PROBE_ROWS = 2000;

/** What a probe found: how many rows, up to its limit, and (for a facet) the agent_id of the last one. */
export interface Probe {
  rows: number;
  last?: string;
}

/** Runs one SQL statement and answers its rows (inside the query's transaction). */
export type RunSql = (sql: string, params: unknown[]) => Promise<Record<string, unknown>[]>;

/**
 * Picks the driver of a query and answers its SQL. A page must cost what it returns, not what the registry holds, at
 * 1,000,000 agents as at 10. With one facet filter and nothing else indexed, that facet drives. With more candidates,
 * each is probed (at most FACET_PROBE_ROWS of a facet's index from the cursor on, SEARCH_PROBE_ROWS of the search
 * index) and chooseDriver picks. A facet drives only through its index, so a page costs at most the rows of its
 * smallest facet from the cursor to the page's end; the others are one index lookup per candidate row.
 */
export async function planAgentQuery(
  selection: AgentSelection,
  dialect: Dialect,
  run: RunSql,
): Promise<{ sql: string; params: unknown[]; driver: QueryDriver }> {
  const facets = facetsOf(selection.filter);
  const search = dialect === 'sqlite' ? searchMatchOf(selection.filter) : undefined;
  let driver: QueryDriver;
  if (facets.length === 0 && search === undefined) driver = { kind: 'scan' };
  else if (facets.length === 1 && search === undefined) driver = { kind: 'facet', index: 0 };
  else {
    const probes: Probe[] = [];
    for (const facet of facets) probes.push(await probeFacet(facet, selection.after, run));
    driver = chooseDriver(probes, search === undefined ? undefined : await probeSearch(search, run));
  }
  return { ...selectAgentsSql(selection, dialect, driver), driver };
}

/**
 * The cheapest driver by its probes: a candidate its probe read to the end (fewer rows than the probe's limit) costs
 * at most that many rows, so the smallest of those wins. When every facet is larger than a probe, the facet whose
 * FACET_PROBE_ROWS-th agent_id comes latest is the sparsest in agent_id order, so it reaches a page's end in the fewest
 * rows. A search larger than its probe is left to the scan, which then finds its matches often enough.
 */
export function chooseDriver(facets: Probe[], search?: Probe): QueryDriver {
  let best: { driver: QueryDriver; rows: number } | undefined;
  facets.forEach((probe, index) => {
    if (probe.rows < FACET_PROBE_ROWS && (!best || probe.rows < best.rows)) {
      best = { driver: { kind: 'facet', index }, rows: probe.rows };
    }
  });
  if (search && search.rows < SEARCH_PROBE_ROWS && (!best || search.rows < best.rows)) {
    best = { driver: { kind: 'search' }, rows: search.rows };
  }
  if (best) return best.driver;
  if (facets.length === 0) return { kind: 'scan' };
  let sparsest = 0;
  facets.forEach((probe, index) => {
    if ((probe.last ?? '') > (facets[sparsest].last ?? '')) sparsest = index;
  });
  return { kind: 'facet', index: sparsest };
}

/** The SQL of a query with its driver; whatever the driver, every filter is checked (see matchesFilter). */
export function selectAgentsSql(
  selection: AgentSelection,
  dialect: Dialect,
  driver: QueryDriver,
): { sql: string; params: unknown[] } {
  const { filter } = selection;
  const facets = facetsOf(filter);
  const key = driver.kind === 'facet' ? 'd.agent_id' : 'r.agent_id';
  let from = 'agent_record r';
  const fromParams: unknown[] = [];
  if (driver.kind === 'facet') {
    const facet = facets[driver.index];
    from = `${facet.table} d join agent_record r on r.agent_id = d.agent_id`;
  } else if (driver.kind === 'search') {
    // CROSS JOIN keeps the search outermost: SQLite would otherwise walk agent_record in order and test each row.
    from =
      '(select rowid as hit from agent_search where agent_search match ?) s cross join agent_record r on r.rowid = s.hit';
    fromParams.push(searchMatchOf(filter));
  }
  const checks: { sql: string; params: unknown[] }[] = [];
  if (driver.kind === 'facet') {
    const facet = facets[driver.index];
    checks.push({ sql: facet.where('d'), params: facet.params });
  }
  facets.forEach((facet, index) => {
    if (driver.kind === 'facet' && driver.index === index) return;
    // Correlated with the driver's key, so the check runs before the agent's row is read.
    checks.push({
      sql: `exists (select 1 from ${facet.table} x where x.agent_id = ${key} and ${facet.where('x')})`,
      params: facet.params,
    });
  });
  for (const [column, term] of [
    ['search_name', filter.name],
    ['search_text', filter.q],
  ] as const) {
    if (term === undefined) continue;
    // PostgreSQL's trigram indexes serve LIKE; SQLite's instr is exact where FTS5 only narrows.
    if (dialect === 'sqlite') checks.push({ sql: `instr(r.${column}, ?) > 0`, params: [term] });
    else checks.push({ sql: `r.${column} like ?`, params: [`%${term.replace(/[\\%_]/g, '\\$&')}%`] });
  }
  if (!selection.includeDead) checks.push({ sql: 'r.expires_at > ?', params: [selection.now] });
  if (selection.after !== undefined) checks.push({ sql: `${key} > ?`, params: [selection.after] });

  let sql = `select ${agentColumns('r.')} from ${from}`;
  if (checks.length > 0) sql += ` where ${checks.map((check) => check.sql).join(' and ')}`;
  sql += ` order by ${key}`;
  const params = [...fromParams, ...checks.flatMap((check) => check.params)];
  if (selection.limit !== undefined) {
    sql += ' limit ?';
    params.push(selection.limit);
  }
  return { sql, params };
}

/** The facet filters of a query, in the order of matchesFilter: capabilities, labels, skill. */
function facetsOf(filter: AgentFilter): Facet[] {
  return [
    ...filter.capabilities.map((capability): Facet => ({
      table: 'agent_capability',
      where: (a) => `${a}.capability = ?`,
      params: [capability],
    })),
    ...filter.labels.map(([name, value]): Facet => ({
      table: 'agent_label',
      where: (a) => `${a}.name = ? and ${a}.value = ?`,
      params: [name, value],
    })),
    ...(filter.skill === undefined
      ? []
      : [{ table: 'agent_skill', where: (a: string) => `${a}.term = ?`, params: [filter.skill] } satisfies Facet]),
  ];
}

/**
 * The FTS5 query for the `name=` and `q=` terms the trigram index can serve (3 characters or more; a shorter one
 * has no trigram), each a quoted phrase, which matches as a substring. Undefined when there is none.
 */
export function searchMatchOf(filter: AgentFilter): string | undefined {
  const phrases = [
    ['search_name', filter.name],
    ['search_text', filter.q],
  ]
    .filter((pair): pair is [string, string] => pair[1] !== undefined && [...pair[1]].length >= 3)
    .map(([column, term]) => `${column} : "${term.replace(/"/g, '""')}"`);
  return phrases.length === 0 ? undefined : phrases.join(' AND ');
}

async function probeFacet(facet: Facet, after: string | undefined, run: RunSql): Promise<Probe> {
  const [row] = await run(
    `select count(*) as n, max(p.agent_id) as last from (select d.agent_id from ${facet.table} d where ${facet.where('d')}` +
      `${after === undefined ? '' : ' and d.agent_id > ?'} order by d.agent_id limit ${FACET_PROBE_ROWS}) p`,
    after === undefined ? facet.params : [...facet.params, after],
  );
  return { rows: bigintValue(row.n as StoredBigint), last: (row.last as string | null) ?? undefined };
}

async function probeSearch(match: string, run: RunSql): Promise<Probe> {
  const [row] = await run(
    `select count(*) as n from (select rowid from agent_search where agent_search match ? limit ${SEARCH_PROBE_ROWS}) p`,
    [match],
  );
  return { rows: bigintValue(row.n as StoredBigint) };
}
