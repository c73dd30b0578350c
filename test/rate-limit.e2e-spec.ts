import request from 'supertest';
import { onEachDatabase } from './support/databases';
import { agent, createTestApp, TestApp } from './support/test-app';

const KEYS = 'fleet-a:agent:fleet-a-secret-0123456789,fleet-b:agent:fleet-b-secret-0123456789';
const A = { Authorization: 'Bearer fleet-a-secret-0123456789' };
const B = { Authorization: 'Bearer fleet-b-secret-0123456789' };

describe.each(onEachDatabase())('Rate limits (HTTP + %s)', (dialect) => {
  let t: TestApp;
  afterEach(() => t.close());

  const expectTooMany = (res: request.Response, detail: RegExp) => {
    expect(res.status).toBe(429);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(res.body.detail).toMatch(detail);
  };

  it('RATE_LIMIT counts each key on its own; the health probes are never limited', async () => {
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS, RATE_LIMIT: '5/1m' }, dialect);
    for (let i = 0; i < 5; i++) {
      const res = await request(t.server).get('/agents').set(A).expect(200);
      expect(res.headers['x-ratelimit-limit-requests']).toBe('5');
      expect(res.headers['x-ratelimit-remaining-requests']).toBe(String(4 - i));
      expect(Number(res.headers['x-ratelimit-reset-requests'])).toBeGreaterThanOrEqual(1);
      expect(Number(res.headers['x-ratelimit-reset-requests'])).toBeLessThanOrEqual(60);
    }
    const refused = await request(t.server).get('/agents').set(A);
    expectTooMany(refused, /Too many requests: at most 5 in 60 seconds/);
    // As @nestjs/throttler sent it, before the guard was our own.
    expect(refused.headers['retry-after-requests']).toBe(refused.headers['retry-after']);
    expectTooMany(await request(t.server).post('/agents/register').set(A).send(agent('x')), /RATE_LIMIT/);
    await request(t.server).get('/agents/x').set(B).expect(404);
    for (let i = 0; i < 10; i++) await request(t.server).get('/health/live').expect(200);
  });

  it('without keys, RATE_LIMIT counts each client address', async () => {
    t = await createTestApp({ RATE_LIMIT: '3/1m' }, dialect);
    for (let i = 0; i < 3; i++) await request(t.server).get('/agents').expect(200);
    expectTooMany(await request(t.server).get('/agents'), /at most 3 in 60 seconds/);
  });

  it('the limit with the shorter window counts first: heartbeats HEARTBEAT_LIMIT refuses never use up RATE_LIMIT', async () => {
    t = await createTestApp({ RATE_LIMIT: '10/10m', HEARTBEAT_LIMIT: '2/1m' }, dialect);
    await request(t.server).post('/agents/register').send(agent('looping')).expect(200);
    for (let i = 0; i < 2; i++) await request(t.server).post('/agents/looping/heartbeat').expect(200);
    for (let i = 0; i < 5; i++) {
      const refused = await request(t.server).post('/agents/looping/heartbeat');
      expectTooMany(refused, /Too many heartbeats for agent looping: at most 2 in 60 seconds/);
      expect(refused.headers['x-ratelimit-remaining-requests']).toBeUndefined();
    }
    // The registration, two heartbeats and this read: the five refused heartbeats were not counted.
    const res = await request(t.server).get('/agents').expect(200);
    expect(res.headers['x-ratelimit-remaining-requests']).toBe('6');
  });

  it('with the longer heartbeat window, RATE_LIMIT counts every request first, refused heartbeats too', async () => {
    t = await createTestApp({ RATE_LIMIT: '10/1m', HEARTBEAT_LIMIT: '2/10m' }, dialect);
    await request(t.server).post('/agents/register').send(agent('looping')).expect(200);
    await request(t.server).post('/agents/looping/heartbeat').expect(200);
    await request(t.server).post('/agents/looping/heartbeat').expect(200);
    const refused = await request(t.server).post('/agents/looping/heartbeat');
    expect(refused.status).toBe(429);
    expect(refused.body.detail).toMatch(/Too many heartbeats for agent looping: at most 2 in 600 seconds/);
    expect(refused.headers['x-ratelimit-remaining-requests']).toBe('6');
  });

  it('HEARTBEAT_LIMIT counts each agent on its own, heartbeats only, and refuses the excess before the writer', async () => {
    t = await createTestApp({ HEARTBEAT_LIMIT: '3/1m' }, dialect);
    await request(t.server).post('/agents/register').send(agent('looping')).expect(200);
    await request(t.server).post('/agents/register').send(agent('calm')).expect(200);
    for (let i = 0; i < 3; i++) await request(t.server).post('/agents/looping/heartbeat').expect(200);
    t.clock.advance(5_000);
    const refused = await request(t.server).post('/agents/looping/heartbeat');
    expectTooMany(refused, /Too many heartbeats for agent looping: at most 3 in 60 seconds \(HEARTBEAT_LIMIT\)/);
    // The refused heartbeat renewed nothing.
    const looping = (await request(t.server).get('/agents/looping').expect(200)).body;
    expect(looping.last_heartbeat).toBe(new Date(t.clock.now().getTime() - 5_000).toISOString());
    await request(t.server).post('/agents/calm/heartbeat').expect(200);
    // Registrations and reads of the looping agent are not heartbeats.
    await request(t.server).post('/agents/register').send(agent('looping')).expect(200);
    await request(t.server).get('/agents/looping').expect(200);
  });
});
