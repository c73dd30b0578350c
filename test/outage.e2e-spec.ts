import request from 'supertest';
import { LeaseGrace } from '../src/scheduler/lease-grace';
import { CleanupJob } from '../src/scheduler/cleanup.job';
import { createTestDatabase, dialects, TestDatabase, withAdmin } from './support/databases';
import { EventStream, openEventStream, revisionIn } from './support/event-stream';
import { FakeClock } from './support/fake-clock';
import { TcpProxy } from './support/tcp-proxy';
import { agent, createTestApp, TestApp } from './support/test-app';

const pg = dialects().includes('postgresql') ? describe : describe.skip;

/** A request that hangs fails the test instead of waiting for the test timeout. */
const NO_HANG_MS = 10_000;

/**
 * A replica whose PostgreSQL goes away: it must answer 503 problem details (never hang, never 500), report the
 * database down on /health and /health/ready, keep /health/live up, and recover by itself when the server is back.
 * The replica reaches PostgreSQL through a TCP relay that the test cuts, freezes and restores.
 */
pg('PostgreSQL outage (HTTP + postgresql)', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let t: TestApp;
  let env: NodeJS.ProcessEnv;

  beforeEach(async () => {
    database = await createTestDatabase('postgresql');
    const url = new URL(database.url);
    proxy = await TcpProxy.start({ host: url.hostname, port: Number(url.port || 5432) });
    env = {
      DATABASE_URL: proxy.rewrite(database.url),
      DATABASE_CONNECT_TIMEOUT_MS: '1000',
      DATABASE_STATEMENT_TIMEOUT_MS: '1000',
    };
    t = await createTestApp(env);
    await request(t.server)
      .post('/agents/register')
      .send(agent('survivor', { ttl_seconds: 3600 }))
      .expect(200);
  });

  afterEach(async () => {
    await proxy?.restore();
    await t?.close();
    await proxy?.close();
    await database?.drop();
  });

  const call = (method: 'get' | 'post' | 'delete', path: string) => request(t.server)[method](path).timeout(NO_HANG_MS);

  async function expectOutageAnswers(): Promise<void> {
    for (const [method, path] of [
      ['post', '/agents/survivor/heartbeat'],
      ['get', '/agents'],
      ['get', '/agents/survivor'],
      ['delete', '/agents/survivor'],
    ] as const) {
      const res = await call(method, path);
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 503 });
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.headers['retry-after']).toBe('5');
      expect(res.body.detail).toBe('The database is unavailable; retry shortly.');
    }
    const registration = await call('post', '/agents/register').send(agent('newcomer'));
    expect(registration.status).toBe(503);

    const health = await call('get', '/health');
    expect(health.status).toBe(503);
    expect(health.body).toMatchObject({ status: 'unhealthy', database: 'down' });
    const ready = await call('get', '/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ status: 'error', error: { database: { status: 'down' } } });
    await call('get', '/health/live').expect(200);
  }

  /** Polls /health until it is 200 again: recovery needs no restart and no request of ours to succeed first. */
  async function expectRecovery(): Promise<void> {
    let status = 0;
    for (let tries = 0; tries < 50 && status !== 200; tries++) {
      status = (await call('get', '/health')).status;
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(status).toBe(200);
    await call('get', '/health/ready').expect(200);
    await call('post', '/agents/survivor/heartbeat').expect(200);
    const listed = await call('get', '/agents').expect(200);
    expect(listed.body.map((a: { agent_id: string }) => a.agent_id)).toEqual(['survivor']);
  }

  it('server gone (connections dropped, new ones refused): 503s, then recovery', async () => {
    await proxy.cut();
    await expectOutageAnswers();
    await proxy.restore();
    await expectRecovery();
  });

  it('server hung (connections open, nothing answers): 503s within the timeouts, then recovery', async () => {
    proxy.freeze();
    await expectOutageAnswers();
    await proxy.restore();
    await expectRecovery();
  });

  it('a connection whose query went unanswered is never handed out again', async () => {
    proxy.freeze();
    await call('post', '/agents/survivor/heartbeat').expect(503);
    // The hung connection is still open and idle in the pool; new connections work.
    proxy.admitNew();
    await call('post', '/agents/survivor/heartbeat').expect(200);
    await call('get', '/agents/survivor').expect(200);
  });

  it('backends terminated by the server: no 500s, and the pool replaces them', async () => {
    // Connections the app holds open: a burst of concurrent requests leaves several in the pool.
    await Promise.all(Array.from({ length: 5 }, () => call('post', '/agents/survivor/heartbeat').expect(200)));
    const name = new URL(database.url).pathname.slice(1);
    const [{ terminated }] = await withAdmin(async (db) => {
      const result = await db.raw<{ rows: { terminated: number }[] }>(
        'select count(pg_terminate_backend(pid))::int as terminated from pg_stat_activity where datname = ? and pid <> pg_backend_pid()',
        [name],
      );
      return result.rows;
    });
    expect(terminated).toBeGreaterThan(0);

    // Every answer from the moment the backends die: 200, or 503 for a request that caught a dying connection.
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await call('post', '/agents/survivor/heartbeat')).status);
    expect(statuses.filter((status) => status !== 200 && status !== 503)).toEqual([]);
    expect(statuses.at(-1)).toBe(200);
    await expectRecovery();
  });

  it('a replica that could not read the log past EVENTS_RETENTION ends its watchers, which then hear 410', async () => {
    await t.close();
    t = await createTestApp({ ...env, EVENTS_POLL_MS: '50' }, 'postgresql');
    // Another replica, on the database directly: it writes and prunes while this one cannot read.
    const other = await createTestApp(
      { DATABASE_URL: database.url, EVENTS_RETENTION: '10s', EVENTS_POLL_MS: '50' },
      'postgresql',
    );
    other.clock.set(t.clock.now());
    const register = (id: string) =>
      request(other.server)
        .post('/agents/register')
        .send(agent(id, { ttl_seconds: 3600 }))
        .expect(200);
    let stream: EventStream | undefined;
    try {
      stream = await openEventStream(t.server, '/events'); // after revision 1 (survivor)
      await register('a'); // 2
      expect((await stream.waitForEvents(1)).map((e) => revisionIn(e.id))).toEqual(['2']);

      await proxy.cut();
      await register('b'); // 3
      await register('b2'); // 4
      other.clock.advance(11_000);
      await register('c'); // 5
      await other.app.get(CleanupJob).run(); // prunes through 4 (its event is kept): 3 is gone
      await proxy.restore();

      // Back, the replica reads revision 4 after 2: 3 is missing, so the watcher is ended, not handed 4 as if nothing were missing.
      await Promise.race([stream.ended, stream.waitForEvents(2, 20_000).catch(() => undefined)]);
      expect(stream.events.map((e) => revisionIn(e.id))).toEqual(['2']);
      await stream.ended;
      const resumed = await openEventStream(t.server, '/events', { 'Last-Event-ID': stream.lastEventId });
      expect(resumed.status).toBe(410);
    } finally {
      stream?.close();
      await other.close();
    }
  });

  it('an outage longer than the leases: 503s during it, and no agent expires because of it', async () => {
    await t.close();
    const clock = new FakeClock();
    t = await createTestApp({ ...env, RESTART_GRACE_AFTER: '15s' }, 'postgresql', clock);
    await call('post', '/agents/register')
      .send(agent('died-before', { ttl_seconds: 5 }))
      .expect(200);
    const fleet = Array.from({ length: 20 }, (_, i) => `fleet-${i}`);
    for (const id of fleet) {
      await call('post', '/agents/register')
        .send(agent(id, { ttl_seconds: 30 }))
        .expect(200);
    }
    clock.advance(10_000);
    await t.app.get(LeaseGrace).observe();

    // Ninety seconds without a database: every heartbeat of the fleet fails, and every lease runs out.
    await proxy.cut();
    for (let passed = 0; passed < 90_000; passed += 15_000) {
      clock.advance(15_000);
      await call('post', `/agents/${fleet[0]}/heartbeat`).expect(503);
      await expect(t.app.get(LeaseGrace).observe()).rejects.toThrow();
    }
    await proxy.restore();

    // Within a second of the database's return, with no heartbeat and no cleanup run: the fleet is alive again.
    const listed = async () =>
      ((await call('get', '/agents?limit=100').expect(200)).body as { agent_id: string; expires_at: string }[]).filter(
        (a) => a.agent_id !== 'survivor',
      );
    let alive = await listed();
    for (let tries = 0; tries < 50 && alive.length < fleet.length; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      alive = await listed();
    }
    expect(alive.map((a) => a.agent_id).sort()).toEqual([...fleet].sort());
    for (const { agent_id, expires_at } of alive) {
      const expiresIn = Date.parse(expires_at) - clock.now().getTime();
      expect({ agent_id, expiresIn }).toEqual({ agent_id, expiresIn: 30_000 });
    }
    // Only the agent that died before the outage goes, and the mass-expiry guard had nothing to stop.
    expect(await t.app.get(CleanupJob).run()).toEqual(['died-before']);
    expect((await call('get', '/health').expect(200)).body).toMatchObject({ status: 'healthy' });
  });
});
