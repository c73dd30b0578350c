import { Logger } from '@nestjs/common';
import request from 'supertest';
import { GRACE_CHUNK, LeaseGrace } from '../src/scheduler/lease-grace';
import { RegistryWriter } from '../src/registry/persistence/registry-writer';
import { CleanupJob } from '../src/scheduler/cleanup.job';
import { createTestDatabase, onEachDatabase, TestDatabase, withAdmin } from './support/databases';
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

  it('a restart extends to now + ttl the leases alive when no replica served any more, and no others', async () => {
    t = await createTestApp(env, dialect, clock);
    await register('died-before', 10);
    await serve(30_000);
    await register('long', 60);
    await register('short', 20);
    // Runs out 175 s after the return, before return + ttl: the heartbeats the outage swallowed would have renewed it.
    await register('outlasts', 300);
    await serve(5_000);
    await t.close();

    clock.advance(120_000); // two minutes without a registry
    t = await createTestApp(env, dialect, clock);
    expect(await states()).toEqual({
      'died-before': { alive: false, expiresIn: -145 },
      long: { alive: true, expiresIn: 60 },
      short: { alive: true, expiresIn: 20 },
      outlasts: { alive: true, expiresIn: 300 },
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

  /**
   * Inserts `count` agents `${prefix}0000` … straight into the table, agent i's lease running out at `expiresAt(i)`,
   * on a connection of its own (on PostgreSQL without the app's statement timeout), and sets the watermark to
   * `seenAt`: as if no replica had served since.
   */
  const lapse = async (prefix: string, count: number, expiresAt: (i: string) => string, seenAt: number) => {
    const now = clock.now().getTime();
    const sql =
      `with recursive series(n) as (select 0 union all select n + 1 from series where n + 1 < ${count}) ` +
      'insert into agent_record (agent_id, agent_name, host, port, ttl_seconds, capabilities, labels, search_name, ' +
      `search_text, registered_at, last_heartbeat, expires_at) select '${prefix}' || n, 'a', '10.0.0.1', 8080, 60, ` +
      `'[]', '{}', 'a', 'a', ${now - 120_000}, ${now - 120_000}, ${expiresAt('n')} from series`;
    const watermark = `update registry_watermark set seen_at = ${seenAt} where id = 1`;
    if (dialect === 'sqlite') {
      await t!.orm.em.getConnection().execute(sql, [], 'run');
      await t!.orm.em.getConnection().execute(watermark, [], 'run');
    } else {
      await withAdmin(async (db) => {
        await db.raw(sql);
        await db.raw(watermark);
      }, database.url);
    }
  };
  const stored = async (sql: string) =>
    (await t!.orm.em.getConnection().execute<Record<string, unknown>[]>(sql)).map((row: Record<string, unknown>) =>
      Number(Object.values(row)[0]),
    );

  it('extends in chunks of GRACE_CHUNK, each its own statement, and moves the watermark only after the last', async () => {
    t = await createTestApp(env, dialect, clock);
    const now = clock.now().getTime();
    const count = 2 * GRACE_CHUNK + 1;
    await lapse('gap-', count, () => `${now - 30_000}`, now - 60_000);
    await lapse('before-', 3, () => `${now - 90_000}`, now - 60_000);
    const logged = jest.spyOn(t.orm.config.getLogger(), 'logQuery');

    expect(await t.app.get(LeaseGrace).observe()).toBe(count);

    const chunks = logged.mock.calls
      .map(([{ query }]) => String(query))
      .filter((q) => q.startsWith('/* restart grace */'));
    logged.mockRestore();
    expect(chunks).toHaveLength(3);
    for (const chunk of chunks) expect(chunk).toContain(`limit ?`);
    expect(await stored('select seen_at from registry_watermark')).toEqual([now]);
    expect(await stored(`select count(*) from agent_record where expires_at = ${now + 60_000}`)).toEqual([count]);
    expect(await stored(`select count(*) from agent_record where expires_at = ${now - 90_000}`)).toEqual([3]);
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

/** Huge gaps and racing writers on PostgreSQL, where statements time out and rows are locked one by one. */
describe.each(onEachDatabase().filter(([dialect]) => dialect === 'postgresql'))(
  'Restart grace at scale (%s)',
  (dialect) => {
    let database: TestDatabase;
    let t: TestApp;
    let clock: FakeClock;

    beforeEach(async () => {
      database = await createTestDatabase(dialect);
      clock = new FakeClock();
    });
    afterEach(async () => {
      jest.restoreAllMocks();
      await t?.close();
      await database.drop();
    });

    /** `count` agents whose leases ran out at `expiresAt(i)` (SQL over n), and the watermark a minute old. */
    const lapse = async (prefix: string, count: number, expiresAt: string) => {
      const now = clock.now().getTime();
      await withAdmin(async (db) => {
        // Inserted in descending agent_id order, so the table's order is the reverse of agent_id order too.
        await db.raw(
          `insert into agent_record (agent_id, agent_name, host, port, ttl_seconds, registered_at, last_heartbeat, ` +
            `expires_at) select '${prefix}' || lpad(n::text, 6, '0'), 'a', '10.0.0.1', 8080, 60, ${now - 120_000}, ` +
            `${now - 120_000}, ${expiresAt} from generate_series(${count - 1}, 0, -1) as n`,
        );
        await db.raw(`update registry_watermark set seen_at = ${now - 60_000} where id = 1`);
      }, database.url);
    };
    const lapsedNow = async () => {
      const [row] = await t.orm.em
        .getConnection()
        .execute<{ n: string }[]>('select count(*) as n from agent_record where expires_at <= ?', [
          clock.now().getTime(),
        ]);
      return Number(row.n);
    };

    it('with a 100 ms statement timeout, 50,000 lapsed leases are extended, and heartbeats meanwhile succeed', async () => {
      t = await createTestApp(
        { DATABASE_URL: database.url, RESTART_GRACE_AFTER: '15s', DATABASE_STATEMENT_TIMEOUT_MS: '100' },
        dialect,
        clock,
      );
      const count = 50_000;
      await lapse('lapse-', count, `${clock.now().getTime() - 30_000}`);

      let done = false;
      // Every chunk it extended is kept: on a busy machine a look may fail, and a later one goes on from there.
      const grace = (async () => {
        for (let look = 1; ; look++) {
          try {
            return await t.app.get(LeaseGrace).observe();
          } catch (error) {
            if (look === 10) throw error;
          }
        }
      })();
      void grace.finally(() => (done = true)).catch(() => undefined);
      const statuses: number[] = [];
      for (let round = 0; !done; round++) {
        const ids = Array.from(
          { length: 20 },
          (_, i) => `lapse-${String((round * 7919 + i * 9973) % count).padStart(6, '0')}`,
        );
        const answers = await Promise.all(ids.map((id) => request(t.server).post(`/agents/${id}/heartbeat`)));
        statuses.push(...answers.map((answer) => answer.status));
      }

      await expect(grace).resolves.toBeGreaterThanOrEqual(0);
      expect(statuses.filter((status) => status !== 200)).toEqual([]);
      expect(await lapsedNow()).toBe(0);
      const [watermark] = await t.orm.em
        .getConnection()
        .execute<{ seen_at: string }[]>('select seen_at from registry_watermark');
      expect(Number(watermark.seen_at)).toBe(clock.now().getTime());
    }, 120_000);

    it('two replicas extending one gap at once extend every lease once, and both move on', async () => {
      const env = { DATABASE_URL: database.url, RESTART_GRACE_AFTER: '15s' };
      t = await createTestApp(env, dialect, clock);
      const other = await createTestApp(env, dialect, clock);
      try {
        const count = 4 * GRACE_CHUNK + 7;
        await lapse('both-', count, `${clock.now().getTime() - 30_000} - n`);

        const extended = await Promise.all([t, other].map((replica) => replica.app.get(LeaseGrace).observe()));

        expect(extended[0] + extended[1]).toBe(count);
        expect(await lapsedNow()).toBe(0);
        const [watermark] = await t.orm.em
          .getConnection()
          .execute<{ seen_at: string }[]>('select seen_at from registry_watermark');
        expect(Number(watermark.seen_at)).toBe(clock.now().getTime());
      } finally {
        await other.close();
      }
    });

    it('heartbeat batches racing the grace lock rows in one order: no deadlock, no heartbeat lost', async () => {
      t = await createTestApp({ DATABASE_URL: database.url, RESTART_GRACE_AFTER: '15s' }, dialect, clock);
      const count = 3000;
      const now = clock.now().getTime();
      // The expires_at index holds them in the reverse of agent_id order.
      await lapse('race-', count, `${now - 30_000} - n`);
      const warned = jest.spyOn(Logger.prototype, 'warn');

      const writer = t.app.get(RegistryWriter);
      const ids = Array.from({ length: count }, (_, i) => `race-${String(i).padStart(6, '0')}`);
      for (let round = 0; round < 3; round++) {
        // Each heartbeat batch holds agents from all over the table, as a fleet's heartbeats arrive.
        const shuffled = ids.map((id) => ({ id, key: Math.random() })).sort((a, b) => a.key - b.key);
        const [grace, ...beats] = await Promise.allSettled([
          t.app.get(LeaseGrace).observe(),
          ...shuffled.map(({ id }) => writer.heartbeat(id)),
        ]);
        expect(grace).toEqual({ status: 'fulfilled', value: expect.any(Number) });
        expect(beats.filter((beat) => beat.status === 'rejected')).toEqual([]);
        expect(await lapsedNow()).toBe(0);
        // The next outage: every lease ran out again, in the reverse of agent_id order, and no replica noticed.
        clock.advance(120_000);
        await withAdmin(async (db) => {
          const now = clock.now().getTime();
          await db.raw(
            `update agent_record set expires_at = ${now - 30_000} - cast(substr(agent_id, 6) as integer) ` +
              "where agent_id like 'race-%'",
          );
          await db.raw(`update registry_watermark set seen_at = ${now - 60_000} where id = 1`);
        }, database.url);
      }
      expect(warned.mock.calls.map(([message]) => String(message)).filter((m) => /40P01|40001/.test(m))).toEqual([]);
    });
  },
);

interface AgentState {
  agent_id: string;
  is_alive: boolean;
  expires_at: string;
}
