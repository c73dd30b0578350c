import {
  errorSummary,
  LeaseState,
  RegistryClient,
  RegistryError,
  WatchState,
  WatchUpdate,
} from '@agent-registry/client';
import { MikroORM } from '@mikro-orm/core';
import { registryOrmOptions } from '../mikro-orm.config';
import { DatabaseConfig, parseDatabaseUrl } from '../src/database/database.config';
import { createTestDatabase, onEachDatabase, TestDatabase } from './support/databases';
import { ServerProcess } from './support/server-process';
import { agent } from './support/test-app';

async function until<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function revisionState(client: RegistryClient): Promise<number> {
  return (await client.list({ limit: 1 })).revision;
}

/** Runs statements on the database, past the API. */
async function onDatabase<T>(url: string, run: (orm: MikroORM) => Promise<T>): Promise<T> {
  const orm = await MikroORM.init(
    registryOrmOptions(
      parseDatabaseUrl(url, { poolMax: 1, statementTimeoutMs: 0, connectTimeoutMs: 3000 }) as DatabaseConfig,
    ),
  );
  try {
    return await run(orm);
  } finally {
    await orm.close();
  }
}

/** registry_revision.pruned_through, read past the API. */
async function prunedThrough(url: string): Promise<number> {
  return onDatabase(url, async (orm) => {
    const [row] = await orm.em
      .getConnection()
      .execute<{ pruned_through: number | string }[]>('select pruned_through from registry_revision');
    return Number(row.pruned_through);
  });
}

/**
 * The TypeScript client (`@agent-registry/client`, from its sources) against the built server, as a process, on each
 * database. client-package.e2e-spec.ts installs the packed package and runs that.
 */
describe.each(onEachDatabase())('Client (server process on %s)', (dialect) => {
  let database: TestDatabase;
  let server: ServerProcess | undefined;
  let client: RegistryClient;
  const cleanup: (() => Promise<unknown>)[] = [];

  beforeEach(async () => {
    database = await createTestDatabase(dialect);
    server = await ServerProcess.start({ DATABASE_URL: database.url, EVENTS_POLL_MS: '50' });
    client = new RegistryClient({ url: server.url });
  });

  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
    await server?.stop();
    await database.drop();
  });

  it('registers, gets, lists with filters and paging, reads the card, deregisters; errors carry the problem', async () => {
    const card = {
      name: 'P',
      description: 'Plans',
      version: '1',
      url: 'http://x/',
      skills: [{ id: 'plan', name: 'Plan', description: '', tags: ['trip'] }],
    };
    await client.registerOnce({
      ...agent('p1'),
      capabilities: ['plan'],
      labels: { region: 'eu' },
      agent_card: card,
    } as never);
    for (let i = 2; i <= 5; i++) await client.registerOnce({ ...agent(`p${i}`), capabilities: ['plan'] } as never);
    expect((await client.get('p1')).labels).toEqual({ region: 'eu' });
    expect(await client.card('p1')).toEqual(card);
    const page = await client.list({ capability: 'plan', limit: 2 });
    expect(page.agents.map((a) => a.agent_id)).toEqual(['p1', 'p2']);
    expect(page.revision).toBe(5);
    expect(page.next).toEqual(expect.any(String));
    const all = await client.listAll({ capability: 'plan', limit: 2 });
    expect(all.agents.map((a) => a.agent_id)).toEqual(['p1', 'p2', 'p3', 'p4', 'p5']);
    expect((await client.list({ label: { region: 'eu' }, skill: 'trip' })).agents.map((a) => a.agent_id)).toEqual([
      'p1',
    ]);
    await client.deregister('p1');
    const missing = await client.get('p1').catch((error: unknown) => error);
    expect(missing).toBeInstanceOf(RegistryError);
    expect(missing).toMatchObject({ status: 404, problem: { detail: 'Agent not found: p1' } });
    const bad = await client.list({ label: 'nocolon' }).catch((error: unknown) => error);
    expect(bad).toMatchObject({ status: 400, problem: { errors: [expect.objectContaining({ field: 'label' })] } });
  });

  it('a lease heartbeats every ttl/3, survives a registry restart, re-registers after a 404, and deregisters on close', async () => {
    const states: [LeaseState, unknown][] = [];
    let heartbeats = 0;
    let reregistered = 0;
    let errors = 0;
    const lease = await client.register({ ...agent('leased'), ttl_seconds: 3 } as never);
    cleanup.push(() => lease.close());
    lease.on('state', (state, error) => states.push([state, error])).on('heartbeat', () => heartbeats++);
    lease.on('reregistered', () => reregistered++).on('error', () => errors++);
    await until(() => heartbeats >= 2); // about one a second

    // The registry restarts (same database, same port) in the middle of the lease, and stays down for several retries.
    const port = new URL(server!.url).port;
    await server!.stop();
    await until(() => errors >= 3);
    server = await ServerProcess.start({ DATABASE_URL: database.url, PORT: port });
    const before = heartbeats;
    await until(() => lease.state === 'active' && heartbeats > before);
    expect((await client.get('leased')).is_alive).toBe(true);
    expect(reregistered).toBe(0);
    // One state change each way, whatever the number of retries; the first failure, in a line, comes with it.
    expect(states).toEqual([
      ['retrying', expect.anything()],
      ['active', undefined],
    ]);
    expect(errorSummary(states[0][1])).toMatch(/^(connect ECONNREFUSED .+|503 .+)$/);

    // Another client removes the agent: the next heartbeat gets 404 and the lease registers it again.
    await client.deregister('leased');
    await until(() => reregistered === 1);
    expect((await client.get('leased')).agent_id).toBe('leased');

    await lease.close();
    expect(lease.state).toBe('closed');
    expect(states.map(([state]) => state)).toEqual(['retrying', 'active', 'closed']);
    await expect(client.get('leased')).rejects.toMatchObject({ status: 404 });
  }, 45_000);

  it("a watch's snapshot holds agents whose lease ran out but which cleanup has not removed", async () => {
    await client.registerOnce({ ...agent('lapsed'), ttl_seconds: 1 } as never);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const updates: WatchUpdate[] = [];
    const watch = client.watch({}, (update) => {
      updates.push(update);
    });
    cleanup.push(() => watch.close());
    await until(() => updates.length >= 1);
    // A heartbeat would revive it without an event: the view must already hold it.
    expect(updates[0]).toMatchObject({ type: 'snapshot', agents: [{ agent_id: 'lapsed', is_alive: false }] });
  });

  it('a snapshot of several pages: a change made while they are read is seen once, whichever page its agent is on', async () => {
    for (const id of ['a', 'b', 'c', 'd']) await client.registerOnce(agent(id) as never); // revisions 1-4
    let pages = 0;
    const paging = new RegistryClient({
      url: server!.url,
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
        if (url.includes('/agents?') && ++pages === 1) {
          // After the first page (a, b), before the others: agents on both sides change, one is added.
          await client.registerOnce({ ...agent('a'), port: 1 } as never); // 5: its page was read before it
          await client.registerOnce({ ...agent('c'), port: 2 } as never); // 6: its page is read after it
          await client.registerOnce(agent('e') as never); // 7: likewise
        }
        return response;
      },
    });
    const updates: WatchUpdate[] = [];
    const watch = paging.watch(
      {},
      (update) => {
        updates.push(update);
      },
      { pageSize: 2 },
    );
    cleanup.push(() => watch.close());
    await until(() => watch.state === 'active' || undefined);
    await client.registerOnce(agent('f') as never); // 8
    await until(() => updates.some((update) => update.type === 'event' && update.event.revision === 8) || undefined);

    expect(pages).toBe(3);
    const [snapshot, ...events] = updates;
    // The first page's revision: the change to a, on that page, is not missed.
    expect(snapshot).toMatchObject({ type: 'snapshot', revision: 4 });
    const listed = (snapshot as { agents: { agent_id: string; port: number }[] }).agents;
    expect(listed.map((a) => [a.agent_id, a.port])).toEqual([
      ['a', 8080],
      ['b', 8080],
      ['c', 2],
      ['d', 8080],
      ['e', 8080],
    ]);
    // The changes the later pages already hold (c's, e's) are not handed over again.
    expect(events.map((update) => update.type === 'event' && [update.event.revision, update.event.agent_id])).toEqual([
      [5, 'a'],
      [8, 'f'],
    ]);
    expect(watch.revision).toBe(8);
  });

  it("a filtered watch's revision follows the events its filters passed over (id-only progress)", async () => {
    await server!.stop();
    server = await ServerProcess.start({
      DATABASE_URL: database.url,
      EVENTS_POLL_MS: '50',
      EVENTS_KEEPALIVE_SECONDS: '1',
    });
    client = new RegistryClient({ url: server.url });
    const updates: WatchUpdate[] = [];
    const watch = client.watch({ capability: 'x' }, (update) => {
      updates.push(update);
    });
    cleanup.push(() => watch.close());
    await until(() => watch.state === 'active' || undefined);
    await client.registerOnce({ ...agent('match'), capabilities: ['x'] } as never); // 1
    await client.registerOnce(agent('other-1') as never); // 2
    await client.registerOnce(agent('other-2') as never); // 3
    // A resume (after a dropped connection) starts after 3, not after 1: 1 may be past the retention by then.
    await until(() => watch.revision === 3 || undefined);
    expect(updates.map((update) => (update.type === 'event' ? update.event.revision : update.type))).toEqual([
      'snapshot',
      1,
    ]);
  });

  it('watch lists again when the registry comes back with another history (a restore): never resumes into it', async () => {
    for (const id of ['a', 'b', 'c']) await client.registerOnce(agent(id) as never); // revisions 1-3
    const updates: WatchUpdate[] = [];
    const watch = client.watch({}, (update) => {
      updates.push(update);
    });
    cleanup.push(() => watch.close());
    await until(() => watch.state === 'active' || undefined);
    expect(watch.revision).toBe(3);

    // The registry's database is restored from a backup taken at revision 1, and other changes are made (on another
    // port: the watch cannot reach them) before the watch's registry is back: revisions 2-4 again, other events.
    const port = new URL(server!.url).port;
    await server!.stop();
    await onDatabase(database.url, async (orm) => {
      const sql = (statement: string) => orm.em.getConnection().execute(statement, [], 'run');
      await sql('delete from agent_event where revision > 1');
      await sql('update registry_revision set revision = 1 where id = 1');
      await sql("delete from agent_record where agent_id in ('b', 'c')");
    });
    const elsewhere = await ServerProcess.start({ DATABASE_URL: database.url });
    const other = new RegistryClient({ url: elsewhere.url });
    for (const id of ['d', 'e', 'f']) await other.registerOnce(agent(id) as never);
    await elsewhere.stop();
    server = await ServerProcess.start({ DATABASE_URL: database.url, PORT: port, EVENTS_POLL_MS: '50' });

    // Resuming after revision 3 would hand over f alone; the position of 3 is another event's: 410, and a new list.
    await until(() => updates.length >= 2);
    expect(updates[1]).toMatchObject({ type: 'snapshot', revision: 4 });
    const listed = (updates[1] as { agents: { agent_id: string }[] }).agents.map((a) => a.agent_id);
    expect(listed).toEqual(['a', 'd', 'e', 'f']);
    await client.registerOnce(agent('g') as never);
    await until(() => updates.length >= 3);
    expect(updates[2]).toMatchObject({ type: 'event', event: { revision: 5, agent_id: 'g' } });
    expect(updates).toHaveLength(3);
  }, 45_000);

  it('watch lists, follows, resumes after a dropped connection, and lists again after a 410', async () => {
    await client.registerOnce({ ...agent('a'), capabilities: ['x'] } as never);
    const updates: WatchUpdate[] = [];
    const states: [WatchState, unknown][] = [];
    let errors = 0;
    const watch = client.watch(
      { capability: 'x' },
      (update) => {
        updates.push(update);
      },
      { onState: (state, error) => states.push([state, error]), onError: () => errors++ },
    );
    cleanup.push(() => watch.close());
    await until(() => updates.length >= 1);
    expect(updates[0]).toEqual({ type: 'snapshot', agents: [expect.objectContaining({ agent_id: 'a' })], revision: 1 });

    await client.registerOnce({ ...agent('b'), capabilities: ['x'] } as never);
    await client.registerOnce({ ...agent('other') } as never);
    await until(() => updates.length >= 2);
    expect(updates[1]).toMatchObject({ type: 'event', event: { revision: 2, type: 'registered', agent_id: 'b' } });

    // The registry restarts: the stream drops, and the watch resumes from revision 3 with nothing lost. It stays down
    // for several retries, which change the watch's state once, and once more when it is back.
    const port = new URL(server!.url).port;
    await server!.stop();
    await client.registerOnce({ ...agent('c'), capabilities: ['x'] } as never).catch(() => undefined); // refused: down
    await until(() => errors >= 3);
    server = await ServerProcess.start({ DATABASE_URL: database.url, PORT: port, EVENTS_POLL_MS: '50' });
    await client.registerOnce({ ...agent('c'), capabilities: ['x'] } as never);
    await until(() => updates.length >= 3);
    expect(updates[2]).toMatchObject({ type: 'event', event: { revision: 4, type: 'registered', agent_id: 'c' } });
    expect(watch.revision).toBe(4);
    expect(states).toEqual([
      ['active', undefined],
      ['retrying', expect.anything()],
      ['active', undefined],
    ]);
    expect(errorSummary(states[1][1])).toMatch(/^(connect ECONNREFUSED .+|503 .+)$/);

    // While the watch cannot reach the registry, changes are made elsewhere and their events pruned: when it is back,
    // resuming from revision 4 is a 410, so the watch lists again and carries on from the new snapshot.
    await server.stop();
    const elsewhere = await ServerProcess.start({
      DATABASE_URL: database.url,
      EVENTS_RETENTION: '1s',
      CLEANUP_CRON: '* * * * * *',
    });
    const other = new RegistryClient({ url: elsewhere.url });
    await other.registerOnce({ ...agent('d'), capabilities: ['x'] } as never);
    await other.deregister('a');
    // Retention is measured from the newest event: they are pruned once a write a second later makes them old.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await other.registerOnce(agent('z') as never);
    await until(async () => (await revisionState(other)) === 7 && (await prunedThrough(database.url)) === 6);
    await elsewhere.stop();
    server = await ServerProcess.start({ DATABASE_URL: database.url, PORT: port, EVENTS_POLL_MS: '50' });
    await until(() => updates.length >= 4);
    expect(updates[3]).toMatchObject({ type: 'snapshot', revision: 7 });
    expect((updates[3] as { agents: { agent_id: string }[] }).agents.map((a) => a.agent_id)).toEqual(['b', 'c', 'd']);
    await client.registerOnce({ ...agent('e'), capabilities: ['x'] } as never);
    await until(() => updates.length >= 5);
    expect(updates[4]).toMatchObject({ type: 'event', event: { revision: 8, agent_id: 'e' } });
  }, 45_000);
});
