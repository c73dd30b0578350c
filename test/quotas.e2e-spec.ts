import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { keysFileLine } from '../src/auth/api-keys';
import { Principal } from '../src/auth/auth.guard';
import { WatchSlots } from '../src/events/watch-slots';
import { RegistryWriter } from '../src/registry/persistence/registry-writer';
import { createTestDatabase, dialects, onEachDatabase, TestDatabase } from './support/databases';
import { EventStream, openEventStream } from './support/event-stream';
import { agent, createTestApp, registration, storedAgentCount, tempDir, TestApp } from './support/test-app';

const SECRETS = {
  'fleet-a': 'fleet-a-secret-0123456789',
  'fleet-b': 'fleet-b-secret-0123456789',
  ops: 'ops-secret-0123456789',
  'reader-a': 'reader-a-secret-0123456789',
  'reader-b': 'reader-b-secret-0123456789',
} as const;
type KeyName = keyof typeof SECRETS;
const KEYS =
  'fleet-a:agent:fleet-a-secret-0123456789,fleet-b:agent:fleet-b-secret-0123456789,ops:admin:ops-secret-0123456789';
const READERS =
  'reader-a:reader:reader-a-secret-0123456789,reader-b:reader:reader-b-secret-0123456789,ops:admin:ops-secret-0123456789';
const as = (key: KeyName) => ({ Authorization: `Bearer ${SECRETS[key]}` });
const FLEET_A: Principal = { name: 'fleet-a', role: 'agent' };

const expectQuota = (res: { status: number; headers: Record<string, unknown>; body?: unknown }, detail: RegExp) => {
  expect(res.status).toBe(429);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  // Waiting frees nothing: no Retry-After.
  expect(res.headers['retry-after']).toBeUndefined();
  expect((res.body as { detail: string }).detail).toMatch(detail);
};

describe.each(onEachDatabase())('Quotas (HTTP + %s)', (dialect) => {
  let t: TestApp;
  afterEach(() => t?.close());

  const register = (key: KeyName | undefined, id: string, fields: Record<string, unknown> = {}) => {
    const req = request(t.server).post('/agents/register');
    return (key ? req.set(as(key)) : req).send(agent(id, fields));
  };
  const revision = async () =>
    (await request(t.server).get('/agents').set(as('ops')).expect(200)).headers['x-registry-revision'];

  it('a key at its AGENT_QUOTA gets 429 for a new agent and nothing changes; its own agents re-register, expired ones too', async () => {
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS, AGENT_QUOTA: '3' }, dialect);
    for (const id of ['a1', 'a2', 'a3']) await register('fleet-a', id).expect(200);
    const before = await revision();

    expectQuota(
      await register('fleet-a', 'a4'),
      /^Key fleet-a owns 3 agents, its AGENT_QUOTA: deregister agents or ask for a larger quota\.$/,
    );
    expect(await storedAgentCount(t.orm)).toBe(3);
    await request(t.server).get('/agents/a4').set(as('ops')).expect(404);
    expect(await revision()).toBe(before);

    // A re-registration of its own (even one that changes it) is no new agent.
    const moved = await register('fleet-a', 'a1', { port: 9090 }).expect(200);
    expect(moved.body.port).toBe(9090);

    // Expired agents cleanup has not removed yet still count, and still re-register.
    t.clock.advance(3_600_000);
    expectQuota(await register('fleet-a', 'a4'), /owns 3 agents, its AGENT_QUOTA/);
    await register('fleet-a', 'a2').expect(200);

    // Deregistering one frees its place.
    await request(t.server).delete('/agents/a3').set(as('fleet-a')).expect(200);
    await register('fleet-a', 'a4').expect(200);
    expectQuota(await register('fleet-a', 'a5'), /owns 3 agents/);
    expect(await storedAgentCount(t.orm)).toBe(3);
  });

  it('another key is not limited by one at its quota; admin keys have none, and what they register is theirs', async () => {
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS, AGENT_QUOTA: '2' }, dialect);
    for (const id of ['a1', 'a2']) await register('fleet-a', id).expect(200);
    expectQuota(await register('fleet-a', 'a3'), /Key fleet-a owns 2 agents/);
    for (const id of ['b1', 'b2']) await register('fleet-b', id).expect(200);
    for (let i = 0; i < 5; i++) await register('ops', `ops-${i}`).expect(200);
    // An admin re-registering a key's agent leaves it that key's.
    await register('ops', 'a1', { port: 9191 }).expect(200);
    expectQuota(await register('fleet-a', 'a3'), /Key fleet-a owns 2 agents/);
    expect(await storedAgentCount(t.orm)).toBe(9);
  });

  it('AGENT_QUOTA=off lifts the limit; a key may carry its own in the keys file (agents=N, agents=off)', async () => {
    const { dir, remove } = tempDir();
    try {
      const file = join(dir, 'keys');
      writeFileSync(
        file,
        [
          `${keysFileLine('fleet-a', 'agent', SECRETS['fleet-a'])} agents=2`,
          keysFileLine('fleet-b', 'agent', SECRETS['fleet-b']),
        ].join('\n'),
      );
      t = await createTestApp({ REGISTRY_API_KEYS_FILE: file, AGENT_QUOTA: 'off' }, dialect);
      for (let i = 0; i < 12; i++) await register('fleet-b', `b${i}`).expect(200);
      for (const id of ['a1', 'a2']) await register('fleet-a', id).expect(200);
      expectQuota(
        await register('fleet-a', 'a3'),
        /^Key fleet-a owns 2 agents, its quota in the keys file \(agents=2\): deregister agents/,
      );
      await t.close();

      writeFileSync(
        file,
        [
          `${keysFileLine('fleet-a', 'agent', SECRETS['fleet-a'])} agents=off`,
          keysFileLine('fleet-b', 'agent', SECRETS['fleet-b']),
        ].join('\n'),
      );
      t = await createTestApp({ REGISTRY_API_KEYS_FILE: file, AGENT_QUOTA: '1' }, dialect);
      for (let i = 0; i < 3; i++) await register('fleet-a', `a${i}`).expect(200);
      await register('fleet-b', 'b1').expect(200);
      expectQuota(await register('fleet-b', 'b2'), /Key fleet-b owns 1 agents, its AGENT_QUOTA/);
    } finally {
      remove();
    }
  });

  it('without keys (protected mode, auth off) no quota applies: nobody owns the agents', async () => {
    t = await createTestApp({ AGENT_QUOTA: '1' }, dialect);
    for (let i = 0; i < 3; i++) await register(undefined, `local-${i}`).expect(200);
    await t.close();
    t = await createTestApp({ AGENT_QUOTA: '1', REGISTRY_AUTH: 'off' }, dialect);
    for (let i = 0; i < 3; i++) await register(undefined, `open-${i}`).expect(200);
  });

  it('50 registrations at once with a quota of 10 store exactly 10, over HTTP and in one write batch', async () => {
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS, AGENT_QUOTA: '10' }, dialect);
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => register('fleet-a', `http-${i}`)));
    expect(answers.filter((res) => res.status === 200)).toHaveLength(10);
    for (const res of answers.filter((r) => r.status !== 200)) expectQuota(res, /Key fleet-a owns 10 agents/);
    expect(await storedAgentCount(t.orm)).toBe(10);

    // Straight to the writer, in one tick: a batch that holds re-registrations and many new agents of one key.
    const [freed, ...owned] = answers.filter((res) => res.status === 200).map((res) => res.body.agent_id as string);
    await request(t.server).delete(`/agents/${freed}`).set(as('fleet-a')).expect(200);
    const writer = t.app.get(RegistryWriter);
    const ids = [...owned, ...Array.from({ length: 40 }, (_, i) => `batch-${i}`)];
    const outcomes = await Promise.allSettled(ids.map((id) => writer.register(registration(id), FLEET_A)));
    expect(ids.filter((_, i) => outcomes[i].status === 'fulfilled')).toEqual([...owned, 'batch-0']);
    for (const outcome of outcomes.filter((o) => o.status === 'rejected')) {
      expect(outcome.reason).toMatchObject({ status: 429 });
    }
    expect(await storedAgentCount(t.orm)).toBe(10);
  });

  describe('watch streams', () => {
    let streams: EventStream[];
    beforeEach(() => (streams = []));
    afterEach(() => streams.forEach((stream) => stream.close()));

    const watch = async (key?: KeyName) => {
      const stream = await openEventStream(t.server, '/events', key ? as(key) : {});
      streams.push(stream);
      return stream;
    };
    const expectOpen = async (key?: KeyName) => expect((await watch(key)).status).toBe(200);
    const expectRefused = async (key: KeyName | undefined, detail: RegExp) => {
      const stream = await watch(key);
      expectQuota({ status: stream.status, headers: stream.headers, body: stream.body }, detail);
    };
    /** Until the replica has seen `stream` close (its 'close' comes a moment after the client's). */
    const closed = async (stream: EventStream, open: number) => {
      stream.close();
      const slots = t.app.get(WatchSlots);
      while (slots.open() !== open) await new Promise((resolve) => setImmediate(resolve));
    };

    it('WATCH_STREAMS_PER_KEY limits each key on its own; a stream that closes frees its place; HEAD holds none', async () => {
      t = await createTestApp(
        { REGISTRY_API_KEYS: READERS, WATCH_STREAMS_PER_KEY: '2', WATCH_STREAMS_MAX: 'off' },
        dialect,
      );
      await expectOpen('reader-a');
      await expectOpen('reader-a');
      await expectRefused(
        'reader-a',
        /^Key reader-a has 2 event streams open on this replica, its WATCH_STREAMS_PER_KEY: close one first/,
      );
      await expectOpen('reader-b');
      // Admin keys have no per-key limit.
      for (let i = 0; i < 3; i++) await expectOpen('ops');
      await request(t.server).head('/events').set(as('reader-a')).expect(429);
      await closed(streams[0], 5);
      await request(t.server).head('/events').set(as('reader-a')).expect(200);
      await expectOpen('reader-a');
      expect(t.app.get(WatchSlots).open('reader-a')).toBe(2);
    });

    it('WATCH_STREAMS_MAX limits the streams of every key, admin and keyless ones together', async () => {
      t = await createTestApp(
        { REGISTRY_API_KEYS: READERS, WATCH_STREAMS_PER_KEY: 'off', WATCH_STREAMS_MAX: '3' },
        dialect,
      );
      await expectOpen('reader-a');
      await expectOpen('reader-a');
      await expectOpen('ops');
      const full = /^This replica serves 3 event streams, its WATCH_STREAMS_MAX: watch from another replica/;
      await expectRefused('reader-b', full);
      await expectRefused('ops', full);
      await closed(streams[2], 2);
      await expectOpen('reader-b');
      await t.close();

      t = await createTestApp({ WATCH_STREAMS_PER_KEY: '1', WATCH_STREAMS_MAX: '2' }, dialect);
      await expectOpen();
      await expectOpen();
      await expectRefused(undefined, /This replica serves 2 event streams, its WATCH_STREAMS_MAX/);
    });
  });
});

const pg = dialects().includes('postgresql') ? describe : describe.skip;

pg('Quotas across replicas on one PostgreSQL database', () => {
  let database: TestDatabase;
  let replicas: TestApp[];

  afterEach(async () => {
    await Promise.all((replicas ?? []).map((replica) => replica.close()));
    await database?.drop();
  });

  it('two replicas taking registrations of one key at once never store more than its AGENT_QUOTA', async () => {
    database = await createTestDatabase('postgresql');
    const env = { DATABASE_URL: database.url, REGISTRY_API_KEYS: KEYS, AGENT_QUOTA: '10' };
    replicas = [await createTestApp(env), await createTestApp(env)];
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        request(replicas[i % 2].server)
          .post('/agents/register')
          .set(as('fleet-a'))
          .send(agent(`r-${i}`)),
      ),
    );
    expect(answers.filter((res) => res.status === 200)).toHaveLength(10);
    expect(answers.filter((res) => res.status === 429)).toHaveLength(50);
    expect(await storedAgentCount(replicas[0].orm)).toBe(10);

    // And in one batch on each, straight to their writers: one place free, two batches racing for it.
    const freed = answers.find((res) => res.status === 200)!.body.agent_id as string;
    await request(replicas[0].server).delete(`/agents/${freed}`).set(as('fleet-a')).expect(200);
    const writers = replicas.map((replica) => replica.app.get(RegistryWriter));
    const outcomes = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) => writers[i % 2].register(registration(`w-${i}`), FLEET_A)),
    );
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    expect(await storedAgentCount(replicas[0].orm)).toBe(10);
  });
});
