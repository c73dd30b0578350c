import { Logger } from '@nestjs/common';
import request from 'supertest';
import { MIGRATION_LOCK_KEY } from '../src/database/migration-runner';
import { postgresMigrations } from '../src/migrations';
import { RegistryWriter } from '../src/registry/persistence/registry-writer';
import { CleanupJob } from '../src/scheduler/cleanup.job';
import { createTestDatabase, dialects, TestDatabase, withAdmin } from './support/databases';
import { openEventStream, revisionIn } from './support/event-stream';
import { agent, createTestApp, registration, storedAgentCount, TestApp } from './support/test-app';

const pg = dialects().includes('postgresql') ? describe : describe.skip;

const REPLICAS = 3;

/**
 * Several stateless replicas on one PostgreSQL database, as behind a load balancer. Each replica is a whole app
 * with its own connection pool, so their statements really race at the database.
 */
pg('Replicas on one PostgreSQL database', () => {
  let database: TestDatabase;
  let replicas: TestApp[];
  let migrationLogs: jest.SpyInstance;

  beforeEach(async () => {
    database = await createTestDatabase('postgresql');
    migrationLogs = jest.spyOn(Logger.prototype, 'log');
    // All boot at once on the empty database: each would find the migration pending.
    replicas = await Promise.all(Array.from({ length: REPLICAS }, () => createTestApp({ DATABASE_URL: database.url })));
    const start = replicas[0].clock.now();
    for (const replica of replicas) replica.clock.set(start);
  });

  afterEach(async () => {
    jest.restoreAllMocks();
    await Promise.all((replicas ?? []).map((replica) => replica.close()));
    await database.drop();
  });

  const on = (i: number) => request(replicas[i % REPLICAS].server);
  const advanceAll = (ms: number) => replicas.forEach((replica) => replica.clock.advance(ms));

  it('booting together, they apply the migrations once', async () => {
    const applied = migrationLogs.mock.calls.filter(([message]) => /^Applied \d+ migration/.test(String(message)));
    const names = postgresMigrations.map((migration) => migration.name);
    expect(applied).toEqual([[`Applied ${names.length} migration(s): ${names.join(', ')}`]]);
    const rows: { name: string }[] = await replicas[1].orm.em
      .getConnection()
      .execute<{ name: string }[]>('select name from mikro_orm_migrations order by id');
    expect(rows.map((row) => row.name)).toEqual(names);
  });

  it('a replica waits for another replica migrating, however long it takes', async () => {
    // Another "replica" holds the migration lock for longer than every timeout of the booting one.
    let release!: () => void;
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = withAdmin(async (db) => {
      await db.raw('select pg_advisory_lock(?)', [MIGRATION_LOCK_KEY]);
      locked();
      await new Promise<void>((resolve) => (release = resolve));
    }, database.url);
    await isLocked;

    let booted = false;
    const boot = createTestApp({
      DATABASE_URL: database.url,
      DATABASE_STATEMENT_TIMEOUT_MS: '200',
      DATABASE_CONNECT_TIMEOUT_MS: '200',
    }).then((app) => {
      booted = true;
      return app;
    });
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(booted).toBe(false);

    release();
    await holder;
    replicas.push(await boot);
    await request(replicas[REPLICAS].server).get('/agents').expect(200);
  });

  it('an agent registered on one replica is visible on the others', async () => {
    const registered = await on(0).post('/agents/register').send(agent('planner')).expect(200);
    for (let i = 1; i < REPLICAS; i++) {
      await on(i).get('/agents/planner').expect(200, registered.body);
      const listed = await on(i).get('/agents').expect(200);
      expect(listed.body).toEqual([registered.body]);
    }
  });

  it('heartbeats on alternating replicas keep the lease alive; without them it expires everywhere', async () => {
    await on(0)
      .post('/agents/register')
      .send(agent('worker', { ttl_seconds: 10 }))
      .expect(200);
    for (let beat = 1; beat <= 6; beat++) {
      advanceAll(6_000); // 36 s in all: three leases' worth, alive only because each beat renews it
      const res = await on(beat).post('/agents/worker/heartbeat').expect(200);
      expect(res.body.expires_at).toBe(new Date(replicas[0].clock.now().getTime() + 10_000).toISOString());
      for (let i = 0; i < REPLICAS; i++) {
        expect((await on(i).get('/agents/worker').expect(200)).body.is_alive).toBe(true);
      }
    }
    advanceAll(10_000);
    for (let i = 0; i < REPLICAS; i++) {
      expect((await on(i).get('/agents/worker').expect(200)).body.is_alive).toBe(false);
      await on(i).get('/agents').expect(200, []);
    }
  });

  it('concurrent first registrations of one id across replicas: all 200, one row, one registered_at', async () => {
    // Replicas' clocks a second apart, so a registration that read the row and wrote back its own time would show.
    replicas.forEach((replica, i) => replica.clock.advance(i * 1_000));
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        on(i)
          .post('/agents/register')
          .send(agent('contended', { port: 2000 + i })),
      ),
    );
    expect(results.map((res) => res.status)).toEqual(Array(30).fill(200));
    expect(await storedAgentCount(replicas[0].orm)).toBe(1);
    const stored = await on(2).get('/agents/contended').expect(200);
    expect(new Set(results.map((res) => res.body.registered_at))).toEqual(new Set([stored.body.registered_at]));
    expect(results.map((res) => res.body.port)).toContain(stored.body.port);
  });

  it('re-registrations racing across replicas keep the first registered_at', async () => {
    const first = await on(0).post('/agents/register').send(agent('known')).expect(200);
    advanceAll(1_000);
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        on(i)
          .post('/agents/register')
          .send(agent('known', { port: 3000 + i })),
      ),
    );
    expect(results.map((res) => res.status)).toEqual(Array(30).fill(200));
    expect(new Set(results.map((res) => res.body.registered_at))).toEqual(new Set([first.body.registered_at]));
    expect(await storedAgentCount(replicas[0].orm)).toBe(1);
  });

  it('batches racing across replicas on the same agents neither deadlock nor fall back to one write at a time', async () => {
    const agents = Array.from({ length: 60 }, (_, i) => `shared-${i}`);
    await Promise.all(agents.map((id) => replicas[0].app.get(RegistryWriter).register(registration(id))));
    const warned = jest.spyOn(Logger.prototype, 'warn');

    // Each replica gets the same agents in its own shuffled order, heartbeats and re-registrations mixed.
    const writes = replicas.flatMap((replica, r) =>
      [...agents, ...agents]
        .map((id, i) => ({ id, register: (i + r) % 3 === 0, key: Math.random() }))
        .sort((a, b) => a.key - b.key)
        .map(({ id, register }) => {
          const writer = replica.app.get(RegistryWriter);
          return register ? writer.register(registration(id, 7000 + r)) : writer.heartbeat(id);
        }),
    );
    const outcomes = await Promise.allSettled(writes);
    const warnings = warned.mock.calls.map(([message]) => String(message));

    expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toEqual([]);
    expect(warnings.filter((message) => /40P01|one at a time/.test(message))).toEqual([]);
    expect(await storedAgentCount(replicas[0].orm)).toBe(agents.length);
  });

  it('heartbeat batches racing across replicas lock in one order: no deadlock, and no lease moves backwards', async () => {
    const agents = Array.from({ length: 60 }, (_, i) => `beat-${i}`);
    await Promise.all(agents.map((id) => replicas[0].app.get(RegistryWriter).register(registration(id))));
    // Replica r's clock is r seconds ahead: whichever commits last, the latest time must win.
    replicas.forEach((replica, r) => replica.clock.advance(r * 1_000));
    const warned = jest.spyOn(Logger.prototype, 'warn');

    const beats = replicas.flatMap((replica) =>
      [...agents, ...agents]
        .map((id) => ({ id, key: Math.random() }))
        .sort((a, b) => a.key - b.key)
        .map(({ id }) => replica.app.get(RegistryWriter).heartbeat(id)),
    );
    const outcomes = await Promise.allSettled(beats);
    const warnings = warned.mock.calls.map(([message]) => String(message));

    expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toEqual([]);
    expect(warnings.filter((message) => /40P01|one at a time/.test(message))).toEqual([]);
    const latest = replicas[REPLICAS - 1].clock.now().getTime();
    const stored = (await on(0).get('/agents').expect(200)).body as { agent_id: string; last_heartbeat: string }[];
    expect(stored.filter((a) => a.agent_id.startsWith('beat-')).map((a) => a.last_heartbeat)).toEqual(
      agents.map(() => new Date(latest).toISOString()),
    );
  });

  it('cleanup on every replica at once removes each expired agent once, counted by exactly one replica', async () => {
    const expired = Array.from({ length: 40 }, (_, i) => `short-${String(i).padStart(2, '0')}`);
    for (const [i, id] of expired.entries()) {
      await on(i)
        .post('/agents/register')
        .send(agent(id, { ttl_seconds: 5 }))
        .expect(200);
    }
    await on(0)
      .post('/agents/register')
      .send(agent('long', { ttl_seconds: 3600 }))
      .expect(200);
    advanceAll(5_000);

    const removedBy = await Promise.all(replicas.map((replica) => replica.app.get(CleanupJob).run()));
    const removed = removedBy.flatMap((ids) => ids ?? []);
    expect(removed.sort()).toEqual(expired); // every expired agent, none twice
    expect(removedBy.every((ids) => ids !== undefined)).toBe(true); // no replica failed
    for (let i = 0; i < REPLICAS; i++) {
      await on(i)
        .get('/agents?include_dead=true')
        .expect(200, /"agent_id":"long"/);
    }
    expect(await storedAgentCount(replicas[1].orm)).toBe(1);
  });

  it('after a failover to a database that lagged, every replica ends its watchers and refuses their old positions (410)', async () => {
    for (const id of ['a', 'b', 'c']) await on(0).post('/agents/register').send(agent(id)).expect(200); // 1-3
    const streams = await Promise.all(replicas.map((replica) => openEventStream(replica.server, '/events?since=0')));
    try {
      const before = await Promise.all(streams.map((stream) => stream.waitForEvents(3, 20_000)));
      const position = before[0][2].id;
      for (const events of before) expect(events.map((event) => event.id)).toEqual(before[0].map((e) => e.id));

      // The database fails over to a standby that had revision 1 only; the replicas write on it.
      const sql = (statement: string) => replicas[0].orm.em.getConnection().execute(statement, [], 'run');
      await sql('delete from agent_event where revision > 1');
      await sql('update registry_revision set revision = 1 where id = 1');
      await sql("delete from agent_record where agent_id in ('b', 'c')");
      for (const id of ['d', 'e', 'f']) await on(0).post('/agents/register').send(agent(id)).expect(200); // 2-4

      // Replicas that did not write notice it by reading the log: every watcher is ended, none given d, e or f.
      const endedOrHanded = (stream: (typeof streams)[number]) =>
        Promise.race([stream.ended, stream.waitForEvents(4).catch(() => undefined)]);
      await Promise.all(streams.map(endedOrHanded));
      for (const stream of streams) expect(stream.events.map((e) => e.data.agent_id)).toEqual(['a', 'b', 'c']);
      await Promise.all(streams.map((stream) => stream.ended));
      for (let i = 0; i < REPLICAS; i++) {
        const resumed = await openEventStream(replicas[i].server, '/events', { 'Last-Event-ID': position });
        expect(resumed.status).toBe(410);
        expect(resumed.body?.detail).toMatch(/^The event log was replaced/);
      }
      // The list on one replica gives a position every replica resumes from.
      const listed = await on(0).get('/agents').expect(200);
      const fresh = listed.headers['x-registry-position'];
      expect(revisionIn(fresh)).toBe('4');
      const shared = before[0][0].id; // revision 1: in both histories
      for (let i = 0; i < REPLICAS; i++) {
        for (const since of [fresh, shared]) {
          const stream = await openEventStream(replicas[i].server, `/events?since=${since}`);
          expect(stream.status).toBe(200);
          streams.push(stream);
        }
      }
      await on(1).post('/agents/register').send(agent('g')).expect(200); // 5
      const after = await Promise.all(streams.slice(REPLICAS).map((stream, i) => stream.waitForEvents(i % 2 ? 4 : 1)));
      for (const events of after) expect(events.at(-1)?.data.agent_id).toBe('g');
      expect(after[1].map((e) => e.data.agent_id)).toEqual(['d', 'e', 'f', 'g']);
    } finally {
      for (const stream of streams) stream.close();
    }
  });

  it("every watcher, on every replica, sees every replica's events in revision order, none skipped", async () => {
    const streams = await Promise.all(replicas.map((replica) => openEventStream(replica.server, '/events?since=0')));
    try {
      // Writes race on all replicas at once: registrations, changes and deregistrations, some on the same agents.
      const agents = Array.from({ length: 45 }, (_, i) => `agent-${i}`);
      await Promise.all(agents.map((id, i) => on(i).post('/agents/register').send(agent(id)).expect(200)));
      await Promise.all([
        ...agents.slice(0, 15).map((id, i) =>
          on(i + 1)
            .post('/agents/register')
            .send(agent(id, { port: 9 }))
            .expect(200),
        ),
        ...agents.slice(30).map((id, i) =>
          on(i + 2)
            .delete(`/agents/${id}`)
            .expect(200),
        ),
      ]);
      const total = 45 + 15 + 15;

      const seen = await Promise.all(streams.map((stream) => stream.waitForEvents(total, 20_000)));
      for (const events of seen) {
        expect(events.map((event) => Number(revisionIn(event.id)))).toEqual(
          Array.from({ length: total }, (_, i) => i + 1),
        );
        expect(events.map((event) => [event.id, event.event, event.data.agent_id])).toEqual(
          seen[0].map((event) => [event.id, event.event, event.data.agent_id]),
        );
      }
      const count = (type: string) => seen[0].filter((event) => event.event === type).length;
      expect([count('registered'), count('updated'), count('deregistered')]).toEqual([45, 15, 15]);
      // Each agent's own events come in the order its writes were answered.
      for (const id of agents.slice(0, 15)) {
        expect(seen[0].filter((e) => e.data.agent_id === id).map((e) => e.event)).toEqual(['registered', 'updated']);
      }
      const revision = await on(0).get('/agents').expect(200);
      expect(revision.headers['x-registry-revision']).toBe(String(total));
    } finally {
      for (const stream of streams) stream.close();
    }
  });
});
