import { SchedulerRegistry } from '@nestjs/schedule';
import request from 'supertest';
import { CLEANUP_JOB, CleanupJob } from '../src/scheduler/cleanup.job';
import { agent, createTestApp, TestApp } from './support/test-app';

describe('Cleanup job (HTTP + SQLite file)', () => {
  let t: TestApp;

  afterEach(async () => {
    await t.close();
  });

  const ids = async () =>
    ((await request(t.server).get('/agents?include_dead=true').expect(200)).body as { agent_id: string }[]).map(
      (a) => a.agent_id,
    );

  it('deletes exactly the expired agents and reports how many', async () => {
    t = await createTestApp();
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

    await expect(t.app.get(CleanupJob).run()).resolves.toBe(2);
    expect(await ids()).toEqual(['stays']);
    await request(t.server).get('/agents/gone-1').expect(404);
    await request(t.server).post('/agents/gone-2/heartbeat').expect(404);

    await expect(t.app.get(CleanupJob).run()).resolves.toBe(0);
  });

  it('deletes with one statement that uses the expires_at index', async () => {
    t = await createTestApp();
    const logger = t.orm.config.getLogger();
    const logged = jest.spyOn(logger, 'logQuery');
    await t.app.get(CleanupJob).run();
    const statements = logged.mock.calls.map(([context]) => context.query);
    logged.mockRestore();

    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatch(/^delete from `agent_record` where `expires_at` <= /);
    const plan: { detail: string }[] = await t.orm.em.getConnection().execute(`explain query plan ${statements[0]}`);
    expect(plan.map((step) => step.detail).join('\n')).toMatch(/USING (COVERING )?INDEX agent_record_expires_at_idx/);
  });

  it('runs on the CLEANUP_CRON schedule', async () => {
    t = await createTestApp({ CLEANUP_CRON: '* * * * * *' });
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
