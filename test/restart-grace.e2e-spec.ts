import request from 'supertest';
import { LeaseGrace } from '../src/registry/lease-grace';
import { CleanupJob } from '../src/scheduler/cleanup.job';
import { createTestDatabase, onEachDatabase, TestDatabase } from './support/databases';
import { FakeClock } from './support/fake-clock';
import { agent, createTestApp, TestApp } from './support/test-app';

describe.each(onEachDatabase())('Restart grace (%s)', (dialect) => {
  let database: TestDatabase;
  let t: TestApp | undefined;
  let clock: FakeClock;
  let env: NodeJS.ProcessEnv;

  beforeEach(async () => {
    database = await createTestDatabase(dialect);
    clock = new FakeClock();
    env = { DATABASE_URL: database.url, RESTART_GRACE_AFTER: '15s' };
  });
  afterEach(async () => {
    await t?.close();
    t = undefined;
    await database.drop();
  });

  const register = (id: string, ttl: number) =>
    request(t!.server)
      .post('/agents/register')
      .send(agent(id, { ttl_seconds: ttl }))
      .expect(200);
  const states = async () =>
    Object.fromEntries(
      ((await request(t!.server).get('/agents?include_dead=true').expect(200)).body as AgentState[]).map((a) => [
        a.agent_id,
        { alive: a.is_alive, expiresIn: (Date.parse(a.expires_at) - clock.now().getTime()) / 1000 },
      ]),
    );
  /** The registry serving for `ms`: the watermark moves every 5 s, as its timer would move it. */
  const serve = async (ms: number) => {
    for (let passed = 0; passed < ms; passed += 5000) {
      clock.advance(Math.min(5000, ms - passed));
      await t!.app.get(LeaseGrace).observe();
    }
  };

  it('a restart extends to now + ttl the leases that ran out while no replica served, and no others', async () => {
    t = await createTestApp(env, dialect, clock);
    await register('died-before', 10);
    await serve(30_000);
    await register('long', 60);
    await register('short', 20);
    await serve(5_000);
    await t.close();

    clock.advance(120_000); // two minutes without a registry
    t = await createTestApp(env, dialect, clock);
    expect(await states()).toEqual({
      'died-before': { alive: false, expiresIn: -145 },
      long: { alive: true, expiresIn: 60 },
      short: { alive: true, expiresIn: 20 },
    });
    expect(await t.app.get(CleanupJob).run()).toEqual(['died-before']);
  });

  it('a replica that restarts while another serves extends nothing', async () => {
    t = await createTestApp(env, dialect, clock);
    const other = await createTestApp(env, dialect, clock);
    try {
      await register('dies', 10);
      await t.close();
      t = undefined;
      // The other replica serves on while this one is down.
      for (let passed = 0; passed < 60_000; passed += 5000) {
        clock.advance(5000);
        await other.app.get(LeaseGrace).observe();
      }
      t = await createTestApp(env, dialect, clock);
      expect(await states()).toEqual({ dies: { alive: false, expiresIn: -50 } });
    } finally {
      await other.close();
    }
  });

  it('after an outage, the cleanup forgives the gap before it removes anything', async () => {
    t = await createTestApp(env, dialect, clock);
    await register('through-outage', 30);
    await register('dead-already', 5);
    await serve(10_000);
    // The database does not answer for 90 s: nothing moves the watermark, heartbeats fail.
    clock.advance(90_000);
    expect(await t.app.get(CleanupJob).run()).toEqual(['dead-already']);
    expect(await states()).toEqual({ 'through-outage': { alive: true, expiresIn: 30 } });
  });

  it('RESTART_GRACE_AFTER=off forgives nothing', async () => {
    t = await createTestApp({ ...env, RESTART_GRACE_AFTER: 'off' }, dialect, clock);
    await register('a', 10);
    await t.close();
    clock.advance(60_000);
    t = await createTestApp({ ...env, RESTART_GRACE_AFTER: 'off' }, dialect, clock);
    expect(await states()).toEqual({ a: { alive: false, expiresIn: -50 } });
  });
});

interface AgentState {
  agent_id: string;
  is_alive: boolean;
  expires_at: string;
}
