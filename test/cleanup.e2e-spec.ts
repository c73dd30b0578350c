import { Logger, NotFoundException } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import request from 'supertest';
import { pickedInOrder } from '../src/registry/persistence/agent-locks';
import { AgentRecord } from '../src/registry/persistence/agent-record.entity';
import { agentColumns, registrationOf } from '../src/registry/persistence/agent-rows';
import { RegistryWriter } from '../src/registry/persistence/registry-writer';
import { CLEANUP_CHUNK } from '../src/scheduler/expired-agents';
import { CLEANUP_JOB, CleanupJob } from '../src/scheduler/cleanup.job';
import { onEachDatabase } from './support/databases';
import { agent, createTestApp, listedAgentIds, storedAgentCount, TestApp } from './support/test-app';

/** An agent_record row as the cleanup tests insert it straight into the table, registered and renewed at `now`. */
function storedAgent(id: string, now: number, expiresAt: number): AgentRecord {
  return {
    ...registrationOf({ agentId: id, agentName: id, host: '10.0.0.1', port: 8080, ttlSeconds: 60 }),
    registeredAt: now,
    lastHeartbeat: now,
    expiresAt,
  };
}

describe.each(onEachDatabase())('Cleanup job (HTTP + %s)', (dialect) => {
  let t: TestApp;

  afterEach(async () => {
    await t.close();
  });

  const ids = () => listedAgentIds(t);

  it('deletes exactly the expired agents and reports which', async () => {
    t = await createTestApp({}, dialect);
    await request(t.server)
      .post('/agents/register')
      .send(agent('gone-1', { ttl_seconds: 5 }))
      .expect(200);
    await request(t.server)
      .post('/agents/register')
      .send(agent('gone-2', { ttl_seconds: 10 }))
      .expect(200);
    await request(t.server)
      .post('/agents/register')
      .send(agent('stays', { ttl_seconds: 11 }))
      .expect(200);
    t.clock.advance(10_000); // gone-2 expires exactly now

    expect((await t.app.get(CleanupJob).run())?.sort()).toEqual(['gone-1', 'gone-2']);
    expect(await ids()).toEqual(['stays']);
    await request(t.server).get('/agents/gone-1').expect(404);
    await request(t.server).post('/agents/gone-2/heartbeat').expect(404);

    await expect(t.app.get(CleanupJob).run()).resolves.toEqual([]);
  });

  it('deletes in chunks of CLEANUP_CHUNK, each on the expires_at index, and leaves live agents alone', async () => {
    t = await createTestApp({}, dialect);
    const now = t.clock.now().getTime();
    const row = (id: string, expiresAt: number) => storedAgent(id, now, expiresAt);
    const expired = 2 * CLEANUP_CHUNK + 1;
    const rows = [
      ...Array.from({ length: expired }, (_, i) => row(`gone-${i}`, now - 1)),
      ...Array.from({ length: 10 }, (_, i) => row(`live-${i}`, now + 60_000)),
    ];
    for (let i = 0; i < rows.length; i += 500) await t.orm.em.fork().insertMany(AgentRecord, rows.slice(i, i + 500));
    const logged = jest.spyOn(t.orm.config.getLogger(), 'logQuery');
    const removed = await t.app.get(CleanupJob).run();
    const statements = logged.mock.calls
      .map(([{ query, params }]) => {
        const values = [...(params ?? [])];
        return String(query).replace(/\?/g, () => String(values.shift()));
      })
      .filter((statement) => statement.startsWith('/* cleanup */'));
    logged.mockRestore();

    expect(removed).toHaveLength(expired);
    expect(new Set(removed)).toEqual(new Set(rows.slice(0, expired).map((r) => r.agentId)));
    expect(await storedAgentCount(t.orm)).toBe(10);
    expect(statements).toHaveLength(3);
    // Picked through the index with a limit (no sort of every expired row); on PostgreSQL locked in agent_id order.
    // Each chunk after the first continues after the last row the one before took, on (expires_at, agent_id).
    const inOrder = rows
      .slice(0, expired)
      .map((r) => r.agentId)
      .sort();
    const after = (chunk: number) => {
      if (chunk === 0) return '';
      const last = inOrder[chunk * CLEANUP_CHUNK - 1];
      return ` and expires_at >= ${now - 1} and (expires_at > ${now - 1} or agent_id > ${last})`;
    };
    statements.forEach((statement, chunk) => {
      const picked =
        `(select agent_id from agent_record where expires_at <= ${now}${after(chunk)} ` +
        `order by expires_at, agent_id limit ${CLEANUP_CHUNK})`;
      expect(statement).toBe(
        `/* cleanup */ delete from agent_record where +expires_at <= ${now} and ` +
          `${dialect === 'postgresql' ? pickedInOrder(picked) : `agent_id in ${picked}`} returning ${agentColumns()}`,
      );
    });
    if (dialect === 'sqlite') {
      const plan: { detail: string }[] = await t.orm.em.getConnection().execute(`explain query plan ${statements[0]}`);
      expect(plan.map((step) => step.detail).join('\n')).toMatch(/USING (COVERING )?INDEX agent_record_expires_at_idx/);
    } else {
      // On an empty table a sequential scan is cheapest; forbid it to see whether the index serves the filter.
      const plan: { 'QUERY PLAN': string }[] = await t.orm.em.transactional(async (em) => {
        await em.getConnection().execute('set local enable_seqscan = off', [], 'run', em.getTransactionContext());
        return em
          .getConnection()
          .execute<{ 'QUERY PLAN': string }[]>(`explain ${statements[0]}`, [], 'all', em.getTransactionContext());
      });
      expect(plan.map((row) => row['QUERY PLAN']).join('\n')).toMatch(
        /Index (Only )?Scan using agent_record_expires_at_idx|Bitmap Index Scan on agent_record_expires_at_idx/,
      );
    }
  });

  // A fleet registers, then lapses, before autovacuum analyzes the table: the planner's statistics say no lease has
  // run out. The delete must still reach each chunk's rows by key, not filter every lapsed row of the expires_at
  // index against the chunk (0.6 s a chunk with 68,000 lapsed, every chunk).
  (dialect === 'postgresql' ? it : it.skip)(
    'with statistics from before the leases lapsed, each chunk deletes its rows through the primary key',
    async () => {
      t = await createTestApp({}, dialect);
      const now = t.clock.now().getTime();
      const row = (id: string, expiresAt: number) => storedAgent(id, now, expiresAt);
      const live = Array.from({ length: 1000 }, (_, i) => row(`live-${i}`, now + 3_600_000));
      for (let i = 0; i < live.length; i += 500) await t.orm.em.fork().insertMany(AgentRecord, live.slice(i, i + 500));
      await t.orm.em.getConnection().execute('analyze agent_record');
      const lapsed = Array.from({ length: 3000 }, (_, i) => row(`gone-${i}`, now - 1));
      for (let i = 0; i < lapsed.length; i += 500) {
        await t.orm.em.fork().insertMany(AgentRecord, lapsed.slice(i, i + 500));
      }
      const logged = jest.spyOn(t.orm.config.getLogger(), 'logQuery');
      const removed = await t.app.get(CleanupJob).run();
      const [statement] = logged.mock.calls
        .map(([{ query, params }]) => {
          const values = [...(params ?? [])].map((value) => (typeof value === 'string' ? `'${value}'` : value));
          return String(query).replace(/\?/g, () => String(values.shift()));
        })
        .filter((sql) => sql.startsWith('/* cleanup */'));
      logged.mockRestore();

      expect(removed).toHaveLength(lapsed.length);
      const plan: { 'QUERY PLAN': string }[] = await t.orm.em.getConnection().execute(`explain ${statement}`);
      // The statement's own scan of agent_record (the subqueries' scans carry an alias).
      const scan = plan
        .map((line) => line['QUERY PLAN'])
        .find((line) => /Scan using \w+ on agent_record {2}\(/.test(line));
      expect(scan).toMatch(/Index Scan using agent_record_pkey on agent_record /);
    },
  );

  // On PostgreSQL rows are locked one by one: the cleanup must take them in the order heartbeat batches do.
  (dialect === 'postgresql' ? it : it.skip)(
    'heartbeat batches racing the cleanup lock rows in one order: no deadlock, and a renewed agent is never removed',
    async () => {
      t = await createTestApp({}, dialect);
      const count = 3000;
      const now = t.clock.now().getTime();
      const ids = Array.from({ length: count }, (_, i) => `clean-${String(i).padStart(6, '0')}`);
      const warned = jest.spyOn(Logger.prototype, 'warn');
      try {
        for (let round = 0; round < 3; round++) {
          await t.orm.em.getConnection().execute("delete from agent_record where agent_id like 'clean-%'");
          // Inserted in descending agent_id order, their leases ran out in that order too (over a minute ago, so the
          // mass-expiry guard lets them go): the table and the expires_at index hold them in reverse agent_id order.
          const rows = ids.map((id, i) => ({
            ...registrationOf({ agentId: id, agentName: id, host: '10.0.0.1', port: 8080, ttlSeconds: 60 }),
            registeredAt: now - 120_000,
            lastHeartbeat: now - 120_000,
            expiresAt: now - 120_000 - i,
          }));
          rows.reverse();
          for (let i = 0; i < rows.length; i += 500)
            await t.orm.em.fork().insertMany(AgentRecord, rows.slice(i, i + 500));

          // Each heartbeat batch holds agents from all over the table, as a fleet's heartbeats arrive.
          const writer = t.app.get(RegistryWriter);
          const shuffled = ids.map((id) => ({ id, key: Math.random() })).sort((a, b) => a.key - b.key);
          const [cleanup, ...beats] = await Promise.allSettled([
            t.app.get(CleanupJob).run(),
            ...shuffled.map(({ id }) => writer.heartbeat(id)),
          ]);

          expect(cleanup).toEqual({ status: 'fulfilled', value: expect.any(Array) });
          const removed = new Set((cleanup as PromiseFulfilledResult<string[]>).value);
          expect(removed.size).toBeGreaterThan(0);
          const renewed = shuffled.filter((_, i) => beats[i].status === 'fulfilled').map(({ id }) => id);
          const refused = beats.filter((beat) => beat.status === 'rejected').map((beat) => beat.reason as unknown);
          expect(refused.filter((reason) => !(reason instanceof NotFoundException))).toEqual([]);
          expect(renewed.filter((id) => removed.has(id))).toEqual([]);
          const stored = (await listedAgentIds(t)).filter((id) => id.startsWith('clean-'));
          expect(new Set(stored)).toEqual(new Set(ids.filter((id) => !removed.has(id))));
          expect(stored).toEqual(expect.arrayContaining(renewed));
        }
        const warnings = warned.mock.calls.map(([message]) => String(message));
        expect(warnings.filter((message) => /40P01|40001/.test(message))).toEqual([]);
      } finally {
        warned.mockRestore();
      }
    },
    // Three rounds of 3,000 racing writes: seconds alone, a minute and more on a CI machine busy with other work.
    180_000,
  );

  it('runs on the CLEANUP_CRON schedule', async () => {
    t = await createTestApp({ CLEANUP_CRON: '* * * * * *' }, dialect);
    expect(t.app.get(SchedulerRegistry).getCronJob(CLEANUP_JOB).cronTime.source).toBe('* * * * * *');

    await request(t.server)
      .post('/agents/register')
      .send(agent('gone', { ttl_seconds: 1 }))
      .expect(200);
    await request(t.server)
      .post('/agents/register')
      .send(agent('stays', { ttl_seconds: 3600 }))
      .expect(200);
    t.clock.advance(1_000);

    // The job fires every second; wait (without asserting on time) until it has removed the expired agent.
    for (let tries = 0; tries < 50 && (await ids()).length > 1; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await ids()).toEqual(['stays']);
  });
});
