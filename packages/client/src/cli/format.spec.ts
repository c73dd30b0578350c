import type { AgentEvent, AgentInfo } from '../index.js';
import { address, agentTable, columns, duration, eventLine, healthLine, readinessLine, shellWord } from './format.js';

const NOW = Date.parse('2026-11-27T09:00:30.000Z');

function agent(fields: Partial<AgentInfo> = {}): AgentInfo {
  return {
    agent_id: 'planner-7',
    agent_name: 'Trip Planner',
    host: '10.0.4.17',
    port: 8080,
    ttl_seconds: 30,
    metadata: null,
    capabilities: ['planning', 'travel:booking'],
    labels: {},
    agent_card: null,
    registered_at: '2026-11-27T09:00:00.000Z',
    last_heartbeat: '2026-11-27T09:00:25.000Z',
    expires_at: '2026-11-27T09:00:55.000Z',
    is_alive: true,
    ...fields,
  };
}

describe('duration', () => {
  it.each([
    [0, '0s'],
    [999, '0s'],
    [45_000, '45s'],
    [60_000, '1m'],
    [245_000, '4m5s'],
    [3_600_000, '1h'],
    [11_100_000, '3h5m'],
    [86_400_000 * 2 + 3_600_000 * 3 + 60_000, '2d3h'],
  ])('%i ms is %s', (ms, text) => expect(duration(ms)).toBe(text));

  it('shows a negative span (a clock a little ahead) as 0s', () => expect(duration(-1500)).toBe('0s'));
});

describe('shellWord', () => {
  it('leaves a plain word as it is, and quotes any other so a shell reads it back', () => {
    expect(shellWord('region:eu-west-1')).toBe('region:eu-west-1');
    expect(shellWord('http://registry:3000/')).toBe('http://registry:3000/');
    expect(shellWord('night owl')).toBe("'night owl'");
    expect(shellWord("owl's")).toBe("'owl'\\''s'");
    expect(shellWord('$HOME;rm')).toBe("'$HOME;rm'");
    expect(shellWord('')).toBe("''");
  });
});

describe('columns', () => {
  it('pads every column but the last to its widest cell, two spaces apart, with no trailing spaces', () => {
    expect(
      columns([
        ['ID', 'NAME', 'X'],
        ['planner-7', 'A', ''],
      ]),
    ).toEqual(['ID         NAME  X', 'planner-7  A']);
  });
});

describe('address', () => {
  it('joins host and port, with an IPv6 address in brackets', () => {
    expect(address({ host: 'planner.internal', port: 8080 })).toBe('planner.internal:8080');
    expect(address({ host: 'fd00::12', port: 9000 })).toBe('[fd00::12]:9000');
  });
});

describe('agentTable', () => {
  it('shows each agent with its address, capabilities, state, heartbeat age and time left', () => {
    const expired = agent({
      agent_id: 'booker-2',
      agent_name: 'Booker',
      capabilities: [],
      last_heartbeat: '2026-11-27T08:58:00.000Z',
      expires_at: '2026-11-27T08:59:00.000Z',
      is_alive: false,
    });
    expect(agentTable([agent(), expired], NOW)).toEqual([
      'ID         NAME          ADDRESS         CAPABILITIES             STATE    HEARTBEAT  EXPIRES',
      'planner-7  Trip Planner  10.0.4.17:8080  planning,travel:booking  alive    5s ago     in 25s',
      'booker-2   Booker        10.0.4.17:8080  -                        expired  2m30s ago  1m30s ago',
    ]);
  });
});

describe('eventLine', () => {
  const at = '2026-11-27T09:00:12.000Z';

  it('shows a registration with where the agent lives and what it can do', () => {
    const event: AgentEvent = {
      revision: 43,
      type: 'registered',
      at,
      agent_id: 'planner-7',
      agent: agent(),
      matches: true,
    };
    expect(eventLine(event)).toBe(
      '2026-11-27T09:00:12.000Z  registered    planner-7  Trip Planner  10.0.4.17:8080  planning,travel:booking',
    );
  });

  it('shows a removal by its id alone', () => {
    const event: AgentEvent = { revision: 44, type: 'deregistered', at, agent_id: 'planner-7', matches: false };
    expect(eventLine(event)).toBe('2026-11-27T09:00:12.000Z  deregistered  planner-7');
  });

  it('marks an update that took the agent out of the filters', () => {
    const event: AgentEvent = {
      revision: 45,
      type: 'updated',
      at,
      agent_id: 'planner-7',
      agent: agent({ capabilities: [] }),
      matches: false,
    };
    expect(eventLine(event)).toBe(
      '2026-11-27T09:00:12.000Z  updated       planner-7  Trip Planner  10.0.4.17:8080  -  (no longer matches)',
    );
  });
});

describe('healthLine', () => {
  const checked_at = '2026-11-27T09:00:00.000Z';

  it('says the status, the database and the counts', () => {
    expect(
      healthLine({ status: 'healthy', database: 'up', registered_agents: 12, active_agents: 11, checked_at }),
    ).toBe('healthy: database up, 12 agents registered, 11 alive');
  });

  it('says why the registry is degraded', () => {
    const expiry_guard = {
      engaged: true,
      since: checked_at,
      reason: '40 of 50 leases ran out at once',
      whole_registry: true,
      held_keys: [],
      unowned_held: false,
    };
    expect(
      healthLine({
        status: 'degraded',
        database: 'up',
        registered_agents: 50,
        active_agents: 10,
        checked_at,
        expiry_guard,
      }),
    ).toBe(
      'degraded: database up, 50 agents registered, 10 alive; the mass-expiry guard holds cleanup since ' +
        '2026-11-27T09:00:00.000Z: 40 of 50 leases ran out at once',
    );
  });

  it('says an unhealthy answer and its detail, and the detail of a 503 that is no health document', () => {
    expect(
      healthLine({ status: 'unhealthy', database: 'down', detail: 'The database did not answer.', checked_at }),
    ).toBe('unhealthy: database down: The database did not answer.');
    expect(healthLine({ detail: 'The registry is shutting down.' })).toBe(
      'not healthy: The registry is shutting down.',
    );
  });
});

describe('readinessLine', () => {
  it("says ready or not, with each check's state", () => {
    expect(readinessLine({ status: 'ok', details: { database: { status: 'up' } } })).toBe('ready: database up');
    expect(readinessLine({ status: 'error', details: { database: { status: 'down', message: 'timeout' } } })).toBe(
      'not ready: database down (timeout)',
    );
    expect(readinessLine({ detail: 'The registry is shutting down.' })).toBe(
      'not ready: The registry is shutting down.',
    );
  });
});
