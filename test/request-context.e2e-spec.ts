import { Logger } from '@nestjs/common';
import request from 'supertest';
import { onEachDatabase } from './support/databases';
import { agent, createTestApp, TestApp } from './support/test-app';

const KEYS = 'fleet:agent:fleet-secret-0123456789,viewer:reader:viewer-secret-0123456789';
const bearer = (secret: string) => ({ Authorization: `Bearer ${secret}` });
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe.each(onEachDatabase())('Request ids and the audit log (HTTP + %s)', (dialect) => {
  let t: TestApp;
  let audited: jest.SpyInstance;

  beforeAll(async () => (t = await createTestApp({ REGISTRY_API_KEYS: KEYS }, dialect)));
  afterAll(() => t.close());
  beforeEach(() => {
    audited = jest.spyOn(Logger.prototype, 'log');
  });
  afterEach(() => audited.mockRestore());

  /** The audit lines logged so far, once the response's 'close' (which logs them) has run. */
  const auditLines = async (): Promise<string[]> => {
    await new Promise((resolve) => setImmediate(resolve));
    return audited.mock.calls
      .filter((_, i) => (audited.mock.contexts[i] as { context?: string }).context === 'Audit')
      .map(([line]) => String(line));
  };

  it("gives every answer an X-Request-Id: the client's when it is tame, else a new UUID", async () => {
    const fresh = await request(t.server).get('/health/live').expect(200);
    expect(fresh.headers['x-request-id']).toMatch(UUID);
    const given = await request(t.server).get('/health/live').set('X-Request-Id', 'trace-42.a').expect(200);
    expect(given.headers['x-request-id']).toBe('trace-42.a');
    for (const wild of ['has space', 'x'.repeat(129), 'quote"d']) {
      const res = await request(t.server).get('/health/live').set('X-Request-Id', wild);
      expect(res.headers['x-request-id']).toMatch(UUID);
    }
    // Errors too: the router's 404, the guard's 401, validation's 400.
    for (const res of [
      await request(t.server).get('/nowhere'),
      await request(t.server).get('/agents'),
      await request(t.server).post('/agents/register').set(bearer('fleet-secret-0123456789')).send({}),
    ]) {
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.headers['x-request-id']).toMatch(UUID);
    }
  });

  it('logs one audit line per write, whoever answered it: who, what, which agent, the result', async () => {
    const fleet = bearer('fleet-secret-0123456789');
    await request(t.server)
      .post('/agents/register')
      .set(fleet)
      .set('X-Request-Id', 'r1')
      .send(agent('a-1'))
      .expect(200);
    await request(t.server).post('/agents/a-1/heartbeat').set(fleet).set('X-Request-Id', 'r2').expect(200);
    await request(t.server).post('/agents/ghost/heartbeat').set(fleet).set('X-Request-Id', 'r3').expect(404);
    await request(t.server)
      .post('/agents/register')
      .set(bearer('viewer-secret-0123456789'))
      .set('X-Request-Id', 'r4')
      .send(agent('a-2'))
      .expect(403);
    await request(t.server).delete('/agents/a-1').set('X-Request-Id', 'r5').expect(401);
    await request(t.server).delete('/agents/a-1').set(fleet).set('X-Request-Id', 'r6').expect(200);
    await request(t.server).get('/agents').set(fleet).expect(200);
    const lines = await auditLines();
    expect(lines).toEqual([
      expect.stringMatching(/^request=r1 key=fleet client=\S+ POST \/agents\/register agent="a-1" result=200$/),
      expect.stringMatching(/^request=r2 key=fleet client=\S+ POST \/agents\/a-1\/heartbeat agent="a-1" result=200$/),
      expect.stringMatching(/^request=r3 key=fleet .* agent="ghost" result=404$/),
      expect.stringMatching(/^request=r4 key=viewer .* POST \/agents\/register agent="a-2" result=403$/),
      expect.stringMatching(/^request=r5 key=- .* DELETE \/agents\/a-1 agent="a-1" result=401$/),
      expect.stringMatching(/^request=r6 key=fleet .* DELETE \/agents\/a-1 agent="a-1" result=200$/),
    ]);
    expect(lines.join('\n')).not.toContain('secret');
  });
});
