import { Logger } from '@nestjs/common';
import request from 'supertest';
import { RequestLine } from '../src/common/request-context';
import { onEachDatabase } from './support/databases';
import { agent, createTestApp, TestApp } from './support/test-app';

const KEYS = 'fleet:agent:fleet-secret-0123456789,viewer:reader:viewer-secret-0123456789';
const bearer = (secret: string) => ({ Authorization: `Bearer ${secret}` });
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe.each(onEachDatabase())('Request ids and the request log (HTTP + %s)', (dialect) => {
  let t: TestApp;
  let logged: jest.SpyInstance;
  let debugged: jest.SpyInstance;

  beforeAll(async () => (t = await createTestApp({ REGISTRY_API_KEYS: KEYS }, dialect)));
  afterAll(() => t.close());
  beforeEach(() => {
    logged = jest.spyOn(Logger.prototype, 'log');
    debugged = jest.spyOn(Logger.prototype, 'debug');
  });
  afterEach(() => jest.restoreAllMocks());

  /** The request lines a spy saw so far, once the responses' 'close' (which logs them) has run. */
  const linesOf = async (spy: jest.SpyInstance): Promise<RequestLine[]> => {
    await new Promise((resolve) => setImmediate(resolve));
    return spy.mock.calls
      .filter((_, i) => (spy.mock.contexts[i] as { context?: string }).context === 'HTTP')
      .map(([line]) => line as RequestLine);
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

  it('logs one line per write, whoever answered it: who, what, which agent, the status, how long', async () => {
    // As with LOG_LEVEL=debug, which adds the reads (the test app logs at fatal).
    jest.spyOn(Logger, 'isLevelEnabled').mockImplementation((level) => level === 'debug');
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
    await request(t.server).get('/agents?capability=x').set(fleet).set('X-Request-Id', 'r7').expect(200);
    await request(t.server).get('/no/such/route').set('X-Request-Id', 'r8').expect(404);

    const line = (fields: Partial<RequestLine>) => ({
      client: expect.any(String) as unknown,
      duration_ms: expect.any(Number) as unknown,
      ...fields,
    });
    const heartbeat = '/agents/:agent_id/heartbeat';
    const written = await linesOf(logged);
    expect(written).toEqual([
      line({
        request_id: 'r1',
        method: 'POST',
        path: '/agents/register',
        route: '/agents/register',
        status: 200,
        key: 'fleet',
        agent: 'a-1',
      }),
      line({
        request_id: 'r2',
        method: 'POST',
        path: '/agents/a-1/heartbeat',
        route: heartbeat,
        status: 200,
        key: 'fleet',
        agent: 'a-1',
      }),
      line({
        request_id: 'r3',
        method: 'POST',
        path: '/agents/ghost/heartbeat',
        route: heartbeat,
        status: 404,
        key: 'fleet',
        agent: 'ghost',
      }),
      line({
        request_id: 'r4',
        method: 'POST',
        path: '/agents/register',
        route: '/agents/register',
        status: 403,
        key: 'viewer',
        agent: 'a-2',
      }),
      line({
        request_id: 'r5',
        method: 'DELETE',
        path: '/agents/a-1',
        route: '/agents/:agent_id',
        status: 401,
        key: '-',
        agent: 'a-1',
      }),
      line({
        request_id: 'r6',
        method: 'DELETE',
        path: '/agents/a-1',
        route: '/agents/:agent_id',
        status: 200,
        key: 'fleet',
        agent: 'a-1',
      }),
    ]);
    expect(written.every((l) => l.duration_ms >= 0 && l.client !== '-')).toBe(true);
    // Reads are logged at debug, without their query string.
    expect(await linesOf(debugged)).toEqual([
      line({ request_id: 'r7', method: 'GET', path: '/agents', route: '/agents', status: 200, key: 'fleet' }),
      line({ request_id: 'r8', method: 'GET', path: '/no/such/route', route: 'unmatched', status: 404, key: '-' }),
    ]);
    expect(JSON.stringify([...written, ...(await linesOf(debugged))])).not.toContain('secret');
  });

  it('below debug, logs the writes only', async () => {
    const fleet = bearer('fleet-secret-0123456789');
    await request(t.server).get('/agents').set(fleet).set('X-Request-Id', 'quiet-read').expect(200);
    await request(t.server).post('/agents/nobody/heartbeat').set(fleet).set('X-Request-Id', 'loud-write').expect(404);
    expect(await linesOf(debugged)).toEqual([]);
    expect((await linesOf(logged)).map((line) => line.request_id)).toEqual(['loud-write']);
  });
});
