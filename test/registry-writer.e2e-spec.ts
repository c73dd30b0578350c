import { EntityManager, Knex } from '@mikro-orm/knex';
import { Logger } from '@nestjs/common';
import request from 'supertest';
import { RegistryWriter } from '../src/registry/persistence/registry-writer';
import { onEachDatabase } from './support/databases';
import { agent, createTestApp, listedAgentIds, registration, TestApp } from './support/test-app';

/** Polls `condition` every 10 ms; fails the test if it does not hold within 5 s. */
async function until(condition: () => boolean): Promise<void> {
  for (let tries = 0; tries < 500 && !condition(); tries++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(condition()).toBe(true);
}

const settle = (promises: Promise<unknown>[]) =>
  Promise.allSettled(promises).then((results) =>
    results.map((result) => (result.status === 'fulfilled' ? 'ok' : (result.reason as { status?: number }).status)),
  );

/** Group commit over the real database: writes that arrive together share one transaction and keep their order. */
describe.each(onEachDatabase())('Group-commit writer (%s)', (dialect) => {
  /** Another connection takes the table's write lock, so the writer's next flush waits until `release()`. */
  async function lockTable(app: TestApp): Promise<{ release(): Promise<void> }> {
    const knex = (app.orm.em as EntityManager).getKnex();
    const client = knex.client as Knex.Client;
    const connection: unknown = await client.acquireRawConnection();
    const run = (sql: string) => knex.raw(sql).connection(connection);
    if (dialect === 'sqlite') await run('begin immediate');
    else await run('begin').then(() => run('lock table agent_record in exclusive mode'));
    return {
      release: async () => {
        await run('rollback');
        await client.destroyRawConnection(connection);
      },
    };
  }

  let t: TestApp;
  let writer: RegistryWriter;

  beforeEach(async () => {
    t = await createTestApp({}, dialect);
    writer = t.app.get(RegistryWriter);
  });

  afterEach(async () => {
    await t.close();
  });

  const ids = () => listedAgentIds(t);

  it('a batch keeps the order of its writes, also on one agent, with a 404 for exactly the write that missed', async () => {
    const outcomes = await settle([
      writer.register(registration('a')),
      writer.heartbeat('a'), // sees the registration before it
      writer.heartbeat('ghost'),
      writer.deregister('a'),
      writer.heartbeat('a'), // after the delete: 404
      writer.register(registration('b')),
      writer.register(registration('b', 9090)), // the later registration wins
      writer.deregister('ghost'),
    ]);
    expect(outcomes).toEqual(['ok', 'ok', 404, 'ok', 404, 'ok', 'ok', 404]);
    expect(await ids()).toEqual(['b']);
    expect((await request(t.server).get('/agents/b').expect(200)).body.port).toBe(9090);
  });

  it('writes that arrive together share one commit: 100 heartbeats, one UPDATE', async () => {
    for (let i = 0; i < 100; i++) await writer.register(registration(`agent-${i}`));
    const logged = jest.spyOn(t.orm.config.getLogger(), 'logQuery');
    t.clock.advance(1_000);

    const leases = await Promise.all(Array.from({ length: 100 }, (_, i) => writer.heartbeat(`agent-${i}`)));
    // The change feed polls the event log meanwhile: count only the writer's statements.
    const statements = logged.mock.calls
      .map(([context]) => String(context.query))
      .filter((query) => !query.includes('from agent_event'));
    logged.mockRestore();

    expect(new Set(leases.map((lease) => lease.lastHeartbeat))).toEqual(new Set([t.clock.now().getTime()]));
    // One statement, no BEGIN or COMMIT; on PostgreSQL it locks its rows in agent_id order itself (see RegistryWriter).
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatch(
      dialect === 'sqlite'
        ? /^\/\* heartbeat \*\/ update agent_record .* where agent_id in \([?, ]+\) returning/
        : /^\/\* heartbeat \*\/ update agent_record .* order by agent_id for update\) returning/,
    );
  });

  it('a batch larger than one statement may hold is split into statements of one transaction, not retried', async () => {
    await t.close();
    t = await createTestApp({ WRITE_BATCH_MAX: '5000' }, dialect);
    writer = t.app.get(RegistryWriter);
    const warned = jest.spyOn(Logger.prototype, 'warn');
    const logged = jest.spyOn(t.orm.config.getLogger(), 'logQuery');

    const stored = await Promise.all(
      Array.from({ length: 1200 }, (_, i) => writer.register(registration(`bulk-${i}`))),
    );
    const statements = logged.mock.calls.map(([context]) => {
      const query = String(context.query).toLowerCase();
      return query.startsWith('insert') ? query.split(' ').slice(0, 3).join(' ') : query.split(' ')[0];
    });
    const warnings = warned.mock.calls.map(([message]) => String(message));
    logged.mockRestore();
    warned.mockRestore();

    expect(stored).toHaveLength(1200);
    expect(warnings).toEqual([]);
    // 500 + 500 + 200 agents, and as many events.
    expect(statements.filter((statement) => /^insert into .?agent_record\b/.test(statement))).toHaveLength(3);
    expect(statements.filter((statement) => /^insert into .?agent_event\b/.test(statement))).toHaveLength(3);
    expect(statements.filter((statement) => statement === 'commit')).toHaveLength(1);
    expect(await ids()).toHaveLength(1200);
  });

  it('beyond WRITE_QUEUE_MAX a write is refused at once: 503, Retry-After, and nothing stored', async () => {
    await t.close();
    t = await createTestApp({ WRITE_QUEUE_MAX: '2', WRITE_BATCH_MAX: '10' }, dialect);
    const lock = await lockTable(t);
    const backlog = (queued: number, inFlight: number) =>
      until(() => {
        const now = t.app.get(RegistryWriter).backlog;
        return now.queued === queued && now.inFlight === inFlight;
      });
    const post = (body: object) =>
      request(t.server)
        .post('/agents/register')
        .send(body)
        .then((res) => res);
    const slow = post(agent('in-flight'));
    await backlog(0, 1); // that write is the flush in flight, blocked by the lock
    const queued = [post(agent('queued-1')), post(agent('queued-2'))];
    await backlog(2, 1);

    const refused = await request(t.server).post('/agents/register').send(agent('refused'));
    expect(refused.status).toBe(503);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.body.detail).toBe('The registry is overloaded; retry shortly.');

    await lock.release();
    expect((await slow).status).toBe(200);
    expect((await Promise.all(queued)).map((res) => res.status)).toEqual([200, 200]);
    expect(await ids()).toEqual(['in-flight', 'queued-1', 'queued-2']);
  });

  it('concurrent heartbeats, registrations and deletes over HTTP: each answered as if alone', async () => {
    for (let i = 0; i < 20; i++)
      await request(t.server)
        .post('/agents/register')
        .send(agent(`old-${i}`))
        .expect(200);
    t.clock.advance(1_000);
    const now = t.clock.now().toISOString();

    const answers = await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => request(t.server).post(`/agents/old-${i}/heartbeat`)),
      ...Array.from({ length: 20 }, (_, i) =>
        request(t.server)
          .post('/agents/register')
          .send(agent(`new-${i}`)),
      ),
      ...Array.from({ length: 10 }, (_, i) => request(t.server).delete(`/agents/old-${i + 10}`)),
      ...Array.from({ length: 5 }, (_, i) => request(t.server).post(`/agents/missing-${i}/heartbeat`)),
    ]);
    const statuses = answers.map((res) => res.status);
    expect(statuses).toEqual([...Array(40).fill(200), ...Array(5).fill(404)]);
    for (const res of answers.slice(0, 10)) expect(res.body.last_heartbeat).toBe(now);
    for (const [i, res] of answers.slice(10, 30).entries()) {
      expect(res.body).toMatchObject({ agent_id: `new-${i}`, registered_at: now, is_alive: true });
    }
    const stored = await ids();
    expect(stored).toHaveLength(30);
    expect(stored.filter((id) => /^old-1\d$/.test(id))).toEqual([]);
  });
});
