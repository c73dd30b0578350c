import request from 'supertest';
import { onEachDatabase } from './support/databases';
import { agent, createTestApp, TestApp } from './support/test-app';

describe.each(onEachDatabase())('Health (HTTP + %s)', (dialect) => {
  let t: TestApp;

  beforeEach(async () => {
    t = await createTestApp({}, dialect);
  });

  afterEach(async () => {
    await t.close();
  });

  it('GET /health counts registered and active agents', async () => {
    await request(t.server)
      .post('/agents/register')
      .send(agent('a', { ttl_seconds: 10 }))
      .expect(200);
    await request(t.server)
      .post('/agents/register')
      .send(agent('b', { ttl_seconds: 100 }))
      .expect(200);
    t.clock.advance(10_000);

    const res = await request(t.server).get('/health').expect(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({
      status: 'healthy',
      database: 'up',
      registered_agents: 2,
      active_agents: 1,
      checked_at: t.clock.now().toISOString(),
    });
  });

  it('GET /health/live and /health/ready answer in terminus format', async () => {
    await request(t.server).get('/health/live').expect(200, { status: 'ok', info: {}, error: {}, details: {} });
    await request(t.server)
      .get('/health/ready')
      .expect(200, {
        status: 'ok',
        info: { database: { status: 'up' } },
        error: {},
        details: { database: { status: 'up' } },
      });
  });

  describe('when the database does not answer', () => {
    beforeEach(async () => {
      await t.orm.close(true);
    });

    it('GET /health is 503 unhealthy', async () => {
      const res = await request(t.server).get('/health').expect(503);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.body).toEqual({
        status: 'unhealthy',
        database: 'down',
        detail: 'The database did not answer.',
        checked_at: t.clock.now().toISOString(),
      });
    });

    it('GET /health/ready is 503 in terminus format; /health/live stays 200', async () => {
      const res = await request(t.server).get('/health/ready').expect(503);
      expect(res.body).toMatchObject({ status: 'error', error: { database: { status: 'down' } } });
      await request(t.server).get('/health/live').expect(200);
    });

    it('registry calls answer 503 problem details with Retry-After', async () => {
      const res = await request(t.server).post('/agents/register').send(agent('a')).expect(503);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.headers['retry-after']).toBe('5');
      expect(res.body).toEqual({
        type: 'about:blank',
        title: 'Service Unavailable',
        status: 503,
        detail: 'The database is unavailable; retry shortly.',
      });
    });
  });
});
