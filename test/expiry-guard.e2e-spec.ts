import request from 'supertest';
import { expectProblem } from './support/problem';
import { ExpiryGuard } from '../src/scheduler/expiry-guard';
import { RegistryService } from '../src/registry/registry.service';
import { CLEANUP_CHUNK, ExpiredAgents } from '../src/scheduler/expired-agents';
import { CleanupJob } from '../src/scheduler/cleanup.job';
import { createTestDatabase, onEachDatabase, TestDatabase } from './support/databases';
import { agent, createTestApp, TestApp } from './support/test-app';

const KEYS =
  'ops:admin:ops-secret-0123456789,fleet:agent:fleet-secret-0123456789,mallory:agent:mallory-secret-0123456789,' +
  Array.from({ length: 4 }, (_, i) => `team-${i}:agent:team-${i}-secret-0123456789`).join(',');
const ADMIN = { Authorization: 'Bearer ops-secret-0123456789' };
const AGENT = { Authorization: 'Bearer fleet-secret-0123456789' };
const MALLORY = { Authorization: 'Bearer mallory-secret-0123456789' };
const TEAM = (i: number) => ({ Authorization: `Bearer team-${i}-secret-0123456789` });
const ids = (n: number) => Array.from({ length: n }, (_, i) => `agent-${String(i).padStart(2, '0')}`);

describe.each(onEachDatabase())('Mass-expiry guard (HTTP + %s)', (dialect) => {
  let t: TestApp;
  /** A database two apps share in turn, dropped after the last one closed. */
  let shared: TestDatabase | undefined;
  afterEach(async () => {
    jest.restoreAllMocks();
    await t.close();
    await shared?.drop();
    shared = undefined;
  });

  const cleanup = () => t.app.get(CleanupJob).run();
  const heartbeat = (id: string) => request(t.server).post(`/agents/${id}/heartbeat`).set(ADMIN).expect(200);
  const listed = async (query = '') =>
    ((await request(t.server).get(`/agents${query}`).set(ADMIN).expect(200)).body as { agent_id: string }[]).length;
  const health = async () => (await request(t.server).get('/health').set(ADMIN).expect(200)).body;
  /** The guard's gauge on GET /metrics. */
  const engagedGauge = async () => {
    const res = await request(t.server).get('/metrics').set(ADMIN).expect(200);
    return Number(/^agent_registry_expiry_guard_engaged (\S+)$/m.exec(res.text)?.[1]);
  };

  /**
   * `fleet` agents alive for over a minute, then all but `survivors` miss their heartbeats: they expire together,
   * `survivors` stay alive.
   */
  const massExpiry = async (fleet: number, survivors: number) => {
    for (const id of ids(fleet)) {
      await request(t.server)
        .post('/agents/register')
        .set(ADMIN)
        .send(agent(id, { ttl_seconds: 30 }))
        .expect(200);
    }
    t.clock.advance(50_000);
    for (const id of ids(fleet)) await heartbeat(id);
    t.clock.advance(20_000);
    for (const id of ids(fleet).slice(0, survivors)) await heartbeat(id);
    t.clock.advance(15_000); // the others ran out 5 s ago
  };

  it('engages when most of the fleet expires at once: deletes nothing, reports degraded, releases as agents return', async () => {
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS }, dialect);
    await massExpiry(20, 4);
    expect(await engagedGauge()).toBe(0);
    expect(await cleanup()).toEqual([]);
    expect(await engagedGauge()).toBe(1);
    expect(await health()).toMatchObject({
      status: 'degraded',
      expiry_guard: {
        engaged: true,
        since: t.clock.now().toISOString(),
        reason: expect.stringMatching(
          /^16 of the 20 agents alive at .* expired by .* \(more than EXPIRY_GUARD_RATIO 0\.5\)/,
        ),
      },
    });
    // It never claims they are alive: listing hides them, include_dead shows them, a heartbeat revives one.
    expect(await listed()).toBe(4);
    expect(await listed('?include_dead=true')).toBe(20);
    t.clock.advance(10_000);
    expect(await cleanup()).toEqual([]);

    for (const id of ids(20).slice(4, 14)) await heartbeat(id);
    // 6 of 20 still expired: fewer than EXPIRY_GUARD_MIN, so it releases and deletes them.
    expect((await cleanup())?.sort()).toEqual(ids(20).slice(14));
    expect(await engagedGauge()).toBe(0);
    expect(await health()).toMatchObject({ status: 'healthy' });
    expect(await health()).not.toHaveProperty('expiry_guard');
  });

  it('releases by itself after EXPIRY_GUARD_MAX_SECONDS', async () => {
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS, EXPIRY_GUARD_MAX_SECONDS: '120' }, dialect);
    await massExpiry(20, 4);
    expect(await cleanup()).toEqual([]);
    t.clock.advance(60_000);
    expect(await cleanup()).toEqual([]);
    t.clock.advance(61_000);
    // The 4 that survived the event have run out meanwhile too.
    expect(await cleanup()).toHaveLength(20);
    expect(await health()).toMatchObject({ status: 'healthy' });
  });

  it('an admin releases it at once, and the agents behind it do not engage it again; other keys may not', async () => {
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS }, dialect);
    await massExpiry(12, 0);
    expect(await cleanup()).toEqual([]);
    expect(await engagedGauge()).toBe(1);
    await request(t.server).post('/admin/expiry-guard/release').set(AGENT).expect(403);
    await request(t.server).post('/admin/expiry-guard/release').expect(401);
    const released = await request(t.server).post('/admin/expiry-guard/release').set(ADMIN).expect(200);
    expect(released.body).toEqual({ engaged: false });
    expect(await engagedGauge()).toBe(0);
    expect(await cleanup()).toHaveLength(12);
    expect(await health()).toMatchObject({ status: 'healthy' });
  });

  it('a few expiries, under EXPIRY_GUARD_MIN or EXPIRY_GUARD_RATIO, are cleaned up as usual', async () => {
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS }, dialect);
    await massExpiry(6, 1); // 5 of 6: most, but fewer than 10
    expect(await cleanup()).toHaveLength(5);
    await t.close();
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS, EXPIRY_GUARD_MIN: '2' }, dialect);
    await massExpiry(20, 12); // 8 of 20: at least 2, but not more than half
    expect(await cleanup()).toHaveLength(8);
  });

  it('the gauge on /metrics starts from the stored state: a replica that boots while the guard holds reports it', async () => {
    shared = await createTestDatabase(dialect);
    const env = { REGISTRY_API_KEYS: KEYS, DATABASE_URL: shared.url };
    t = await createTestApp(env, dialect);
    await massExpiry(12, 0);
    expect(await cleanup()).toEqual([]);
    await t.close();
    // prom-client keeps one gauge per process: a replica on a database without an event sets it to 0 first.
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS }, dialect);
    expect(await engagedGauge()).toBe(0);
    await t.close();
    t = await createTestApp(env, dialect);
    expect(await engagedGauge()).toBe(1);
  });

  /** Registers `ids` with `as`'s key and a lease of `ttl` seconds. */
  const register = async (as: Record<string, string>, names: string[], ttl: number) => {
    for (const id of names) {
      await request(t.server)
        .post('/agents/register')
        .set(as)
        .send(agent(id, { ttl_seconds: ttl }))
        .expect(200);
    }
  };
  const named = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

  it("one key's own agents lapsing hold only that key's agents: the others' are cleaned up as usual", async () => {
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS }, dialect);
    await register(AGENT, named('fleet', 20), 60);
    await register(AGENT, named('fleet-old', 2), 10);
    await register(MALLORY, named('mallory', 30), 5);
    t.clock.advance(1_000);
    expect(await cleanup()).toEqual([]); // the last check: 52 alive
    t.clock.advance(30_000);
    for (const id of named('fleet', 20)) await heartbeat(id);
    // mallory's 30 lapsed (more than half of the registry's 52), and 2 of fleet's 22, as they do.
    expect((await cleanup())?.sort()).toEqual(named('fleet-old', 2));
    expect(await health()).toMatchObject({
      status: 'degraded',
      expiry_guard: {
        engaged: true,
        whole_registry: false,
        held_keys: ['mallory'],
        unowned_held: false,
        reason: expect.stringMatching(/^30 of the 30 agents alive at .* of the key mallory: cleanup keeps these/),
      },
    });
    expect(await engagedGauge()).toBe(1);
    // Held, they are still listed as expired, and a heartbeat would revive them.
    expect(await listed('?include_dead=true')).toBe(50);

    // An admin releases that key alone, with a bad key name refused as a problem.
    expectProblem(
      await request(t.server).post('/admin/expiry-guard/release?key=no%20such').set(ADMIN),
      400,
      /key must be an API key name/,
    );
    const released = await request(t.server).post('/admin/expiry-guard/release?key=mallory').set(ADMIN).expect(200);
    expect(released.body).toEqual({ engaged: false });
    expect(await cleanup()).toHaveLength(30);
    expect(await health()).toMatchObject({ status: 'healthy' });
  });

  it("one key's own lapses do not hold another key's small fleet: its one agent that died is cleaned up", async () => {
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS }, dialect);
    await register(AGENT, named('fleet', 20), 60);
    await register(TEAM(0), named('victim', 1), 5);
    await register(MALLORY, named('mallory', 30), 5);
    t.clock.advance(1_000);
    expect(await cleanup()).toEqual([]); // the last check: 51 alive
    t.clock.advance(30_000);
    for (const id of named('fleet', 20)) await heartbeat(id);
    // 31 of 51 lapsed, but without mallory's 30 only 1 of 21: the registry-wide rule does not hold team-0's agent.
    expect(await cleanup()).toEqual(['victim-0']);
    expect(await health()).toMatchObject({
      expiry_guard: { whole_registry: false, held_keys: ['mallory'], unowned_held: false },
    });
  });

  it('deletes only leases that ran out by the instant the guard judged: one that lapses after is counted first', async () => {
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS }, dialect);
    await register(AGENT, named('fleet', 20), 30);
    t.clock.advance(1_000);
    expect(await cleanup()).toEqual([]); // the last check: 20 alive
    t.clock.advance(28_500);
    // The fleet's leases run out between the guard's check (none lapsed yet) and the delete.
    const guard = t.app.get(ExpiryGuard);
    const check = guard.check.bind(guard);
    jest.spyOn(guard, 'check').mockImplementationOnce(async () => {
      const holds = await check();
      t.clock.advance(1_000);
      return holds;
    });
    expect(await cleanup()).toEqual([]);
    // The next check counts them: 20 of 20 lapsed, held.
    expect(await cleanup()).toEqual([]);
    expect(await health()).toMatchObject({ expiry_guard: { held_keys: ['fleet'] } });
  });

  it('each cleanup chunk picks after the last row the chunk before took: held rows are not read again', async () => {
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS }, dialect);
    const registry = t.app.get(RegistryService);
    const fleet = { name: 'fleet', role: 'agent' as const };
    const mallory = { name: 'mallory', role: 'agent' as const };
    // mallory's held agents run out first; then more than a chunk of fleet's, some at the same instant.
    for (const id of named('mallory', 20)) await registry.register(agent(id, { ttl_seconds: 5 }) as never, mallory);
    for (let i = 0; i < CLEANUP_CHUNK + 20; i++) {
      if (i % 10 === 0) t.clock.advance(1);
      await registry.register(agent(`fleet-${String(i).padStart(4, '0')}`, { ttl_seconds: 10 }) as never, fleet);
    }
    t.clock.advance(20_000);
    const connection = t.orm.em.getConnection();
    const execute = connection.execute.bind(connection);
    const chunks: unknown[][] = [];
    jest.spyOn(connection, 'execute').mockImplementation(((sql: string, params?: unknown[], ...rest: never[]) => {
      if (typeof sql === 'string' && sql.startsWith('/* cleanup */')) chunks.push(params ?? []);
      return execute(sql, params, ...rest);
    }) as typeof connection.execute);
    const removed = await t.app.get(ExpiredAgents).remove({ owners: ['mallory'], unowned: false });
    expect(removed).toHaveLength(CLEANUP_CHUNK + 20);
    expect(chunks).toHaveLength(2);
    // The second chunk starts after the first's last row: (its expires_at, its agent_id).
    const last = `fleet-${String(CLEANUP_CHUNK - 1).padStart(4, '0')}`;
    expect(chunks[1]).toContain(last);
    expect(await listed('?include_dead=true')).toBe(20);
  });

  /** The statements on agent_record that `run` sends, with their parameters. */
  const agentReads = async (run: () => Promise<unknown>) => {
    const connection = t.orm.em.getConnection();
    const execute = connection.execute.bind(connection);
    const sent: { sql: string; params: unknown[] }[] = [];
    const spy = jest.spyOn(connection, 'execute').mockImplementation(((
      sql: string,
      params?: unknown[],
      ...rest: never[]
    ) => {
      if (typeof sql === 'string') sent.push({ sql, params: params ?? [] });
      return execute(sql, params, ...rest);
    }) as typeof connection.execute);
    try {
      await run();
    } finally {
      spy.mockRestore();
    }
    return sent;
  };

  it("the check reads only the lapses' range of agents, and the agents alive only of groups with lapses", async () => {
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS }, dialect);
    await register(AGENT, named('fleet', 30), 300);
    await register(MALLORY, named('mallory', 2), 5);
    expect(await cleanup()).toEqual([]);
    t.clock.advance(10_000);
    const guard = t.app.get(ExpiryGuard);
    const reads = (await agentReads(() => guard.check())).filter(({ sql }) => /from agent_record/.test(sql));
    expect(reads.length).toBeGreaterThan(0);
    // Every read of agent_record is bounded: by the lapses' expires_at range, or by mallory's agents (which lapsed).
    for (const { sql, params } of reads) {
      expect({ sql, bounded: /\bwhere\b.*expires_at <= \?/.test(sql) || params.includes('mallory') }).toEqual({
        sql,
        bounded: true,
      });
    }
  });

  it('EXPIRY_GUARD_RATIO=1 turns the guard off: the cleanup does not check at all', async () => {
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS, EXPIRY_GUARD_RATIO: '1' }, dialect);
    await massExpiry(12, 0);
    const sent = await agentReads(async () => expect(await cleanup()).toHaveLength(12));
    expect(sent.filter(({ sql }) => /expiry_guard/.test(sql))).toEqual([]);
  });

  it('many small fleets cut off at once, each under EXPIRY_GUARD_MIN, hold the whole registry', async () => {
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS }, dialect);
    for (let i = 0; i < 4; i++) await register(TEAM(i), named(`team-${i}`, 4), 30);
    await register(AGENT, named('fleet', 2), 300);
    expect(await cleanup()).toEqual([]);
    t.clock.advance(40_000);
    expect(await cleanup()).toEqual([]);
    expect(await health()).toMatchObject({
      status: 'degraded',
      expiry_guard: {
        whole_registry: true,
        held_keys: ['team-0', 'team-1', 'team-2', 'team-3'],
        reason: expect.stringMatching(
          /^12 of the 14 agents alive at .*, leaving out the key team-\d \(the largest share\)/,
        ),
      },
    });
    // One key released, the registry stays held; all released, the next run cleans up.
    const one = await request(t.server).post('/admin/expiry-guard/release?key=team-0').set(ADMIN).expect(200);
    expect(one.body).toEqual({ engaged: true });
    expect(await cleanup()).toEqual([]);
    await request(t.server).post('/admin/expiry-guard/release').set(ADMIN).expect(200);
    expect(await cleanup()).toHaveLength(16);
  });

  it('counts every lapse since the last completed check: leases spread over minutes, a slow schedule', async () => {
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS }, dialect);
    // 20 agents with 300 s leases, whose heartbeats came 10 s apart: their leases run out over 190 s.
    await register(AGENT, named('fleet', 20), 300);
    for (const id of named('fleet', 20)) {
      t.clock.advance(10_000);
      await heartbeat(id);
    }
    expect(await cleanup()).toEqual([]); // the last check: all 20 alive
    // The network goes; the next run comes 5 minutes later, when all have run out, most over a minute ago.
    t.clock.advance(300_000);
    expect(await cleanup()).toEqual([]);
    expect(await health()).toMatchObject({
      status: 'degraded',
      expiry_guard: { held_keys: ['fleet'], reason: expect.stringMatching(/^20 of the 20 agents alive at/) },
    });
  });

  it('a hold of the whole registry stored before the guard judged each key stays engaged after the migration', async () => {
    shared = await createTestDatabase(dialect);
    const env = { REGISTRY_API_KEYS: KEYS, DATABASE_URL: shared.url };
    t = await createTestApp(env, dialect);
    await massExpiry(20, 0);
    await t.orm.getMigrator().down({ to: 'Migration20261207120000' });
    const since = t.clock.now().getTime();
    await t.orm.em
      .getConnection()
      .execute('update expiry_guard set since = ?, reason = ? where id = 1', [since, 'engaged by an older version']);
    await t.close();
    t = await createTestApp(env, dialect, t.clock);
    expect(await health()).toMatchObject({
      status: 'degraded',
      expiry_guard: {
        since: new Date(since).toISOString(),
        reason: 'engaged by an older version',
        whole_registry: true,
      },
    });
    expect(await cleanup()).toEqual([]);
    expect(await engagedGauge()).toBe(1);
    // It releases as before: its agents come back.
    for (const id of ids(20)) await heartbeat(id);
    expect(await cleanup()).toEqual([]);
    expect(await health()).toMatchObject({ status: 'healthy' });
  });
});
