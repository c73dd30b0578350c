import {
  chooseDriver,
  FACET_PROBE_ROWS,
  planAgentQuery,
  Probe,
  RunSql,
  SEARCH_PROBE_ROWS,
  searchMatchOf,
} from './agent-query';
import { AgentFilter, NO_FILTER } from '../discovery';

const full = (last: string): Probe => ({ rows: FACET_PROBE_ROWS, last });

describe('chooseDriver', () => {
  it('drives by the smallest facet its probe read to the end', () => {
    expect(chooseDriver([{ rows: 500, last: 'x' }, { rows: 20, last: 'b' }, full('z')])).toEqual({
      kind: 'facet',
      index: 1,
    });
  });

  it('with every facet larger than its probe, drives by the one whose last probed id comes latest', () => {
    expect(chooseDriver([full('agent-0100'), full('agent-9000'), full('agent-0500')])).toEqual({
      kind: 'facet',
      index: 1,
    });
  });

  it('drives by the search when it is smaller than every facet', () => {
    expect(chooseDriver([{ rows: 50, last: 'x' }], { rows: 7 })).toEqual({ kind: 'search' });
    expect(chooseDriver([{ rows: 5, last: 'x' }], { rows: 7 })).toEqual({ kind: 'facet', index: 0 });
    expect(chooseDriver([full('x')], { rows: SEARCH_PROBE_ROWS - 1 })).toEqual({ kind: 'search' });
  });

  it('leaves a search larger than its probe to the scan, or to a facet', () => {
    expect(chooseDriver([], { rows: SEARCH_PROBE_ROWS })).toEqual({ kind: 'scan' });
    expect(chooseDriver([full('x')], { rows: SEARCH_PROBE_ROWS })).toEqual({ kind: 'facet', index: 0 });
  });
});

describe('searchMatchOf', () => {
  const filter = (fields: Partial<AgentFilter>): AgentFilter => ({ ...NO_FILTER, ...fields });

  it('quotes each term of 3 characters or more as a phrase of its column, doubling quotes', () => {
    expect(searchMatchOf(filter({ name: 'pla', q: 'say "hi"' }))).toBe(
      'search_name : "pla" AND search_text : "say ""hi"""',
    );
  });

  it('leaves out terms too short for a trigram, counting characters, not UTF-16 units', () => {
    expect(searchMatchOf(filter({ name: 'ab' }))).toBeUndefined();
    expect(searchMatchOf(filter({ name: 'ab', q: 'abc' }))).toBe('search_text : "abc"');
    expect(searchMatchOf(filter({ q: '😀😀' }))).toBeUndefined();
  });
});

describe('planAgentQuery', () => {
  const plan = async (filter: Partial<AgentFilter>, dialect: 'sqlite' | 'postgresql', answers: Probe[] = []) => {
    const probes: string[] = [];
    const run: RunSql = (sql) => {
      probes.push(sql);
      const probe = answers.shift() ?? { rows: 0 };
      return Promise.resolve([{ n: String(probe.rows), last: probe.last ?? null }]);
    };
    const result = await planAgentQuery(
      { filter: { ...NO_FILTER, ...filter }, includeDead: false, now: 0 },
      dialect,
      run,
    );
    return { ...result, probes };
  };

  it('needs no probe for no filter, or for one facet alone', async () => {
    expect(await plan({}, 'sqlite')).toMatchObject({ driver: { kind: 'scan' }, probes: [] });
    expect(await plan({ capabilities: ['a'], name: 'ab' }, 'sqlite')).toMatchObject({
      driver: { kind: 'facet', index: 0 },
      probes: [],
    });
  });

  it('probes every facet and the search, and drives the SQL by the pick', async () => {
    const { driver, probes, sql, params } = await plan(
      { capabilities: ['common'], labels: [['zone', 'z1']], q: 'route' },
      'sqlite',
      [full('a'), { rows: 12, last: 'q' }, { rows: 40 }],
    );
    expect(probes).toHaveLength(3);
    expect(driver).toEqual({ kind: 'facet', index: 1 });
    expect(sql).toMatch(/from agent_label d join agent_record r/);
    expect(params.slice(0, 3)).toEqual(['zone', 'z1', 'common']);
  });

  it('on PostgreSQL matches name and q with LIKE (for the trigram indexes), escaping its wildcards', async () => {
    const { driver, sql, params, probes } = await plan({ name: '50%_off\\' }, 'postgresql');
    expect(probes).toEqual([]);
    expect(driver).toEqual({ kind: 'scan' });
    expect(sql).toMatch(/r\.search_name like \?/);
    expect(params[0]).toBe('%50\\%\\_off\\\\%');
  });
});
