import { Logger } from '@nestjs/common';
import { IncomingMessage, request as httpRequest } from 'node:http';
import request from 'supertest';
import { CleanupJob } from '../src/scheduler/cleanup.job';
import { onEachDatabase } from './support/databases';
import { listeningUrl } from './support/event-stream';
import { expectProblem } from './support/problem';
import { agent, createTestApp, TestApp } from './support/test-app';

const SECRETS = {
  a: 'fleet-a-secret-0123456789',
  b: 'fleet-b-secret-0123456789',
};
const KEYS = `fleet-a:agent:${SECRETS.a},fleet-b:agent:${SECRETS.b}`;
const A = { Authorization: `Bearer ${SECRETS.a}` };
const B = { Authorization: `Bearer ${SECRETS.b}` };
const WRONG_SECRET = 'guessed-secret-0123456789';
const WRONG = { Authorization: `Bearer ${WRONG_SECRET}` };
const MISSING_KEY = 'A valid API key is required: send it as "Authorization: Bearer <key>".';

/** A GET with the target exactly as given (an absolute-form target, a percent-encoded path), on its own connection. */
async function rawGet(t: TestApp, target: string, headers: Record<string, string> = {}): Promise<number> {
  const { port } = new URL(await listeningUrl(t.server));
  return new Promise((resolve, reject) => {
    const sent = httpRequest(
      { host: '127.0.0.1', port, path: target, headers: { Host: 'registry.example', ...headers }, agent: false },
      (res: IncomingMessage) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    sent.on('error', reject);
    sent.end();
  });
}

/**
 * What a hostile key (or a client with none) can try against the guarantees, on this jest project's adapter and on
 * both databases: taking over another key's agent by spending its heartbeat budget, guessing keys, and reaching the
 * closed docs by another spelling of their paths.
 */
describe.each(onEachDatabase())('Attacks (HTTP + %s)', (dialect) => {
  let t: TestApp;
  afterEach(async () => {
    jest.restoreAllMocks();
    await t.close();
  });

  it("B's refused heartbeats never spend A's budget: A's lease holds, cleanup keeps it, B cannot take the id", async () => {
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS, HEARTBEAT_LIMIT: '5/1h' }, dialect);
    const ttlSeconds = 6;
    await request(t.server)
      .post('/agents/register')
      .set(A)
      .send(agent('planner', { host: '10.0.0.1', ttl_seconds: ttlSeconds }))
      .expect(200);

    // B hammers A's agent, and ids nobody has registered yet: refused (403, 404), then limited (429), never served.
    for (let i = 0; i < 20; i++) {
      for (const id of ['planner', 'planner-2']) {
        const res = await request(t.server).post(`/agents/${id}/heartbeat`).set(B);
        expect([id === 'planner' ? 403 : 404, 429]).toContain(res.status);
      }
    }

    // A keeps its lease across several TTLs, heartbeating every ttl/3, with time moved by the injected clock.
    for (let i = 0; i < 4; i++) {
      t.clock.advance((ttlSeconds * 1000) / 3);
      await request(t.server).post('/agents/planner/heartbeat').set(A).expect(200);
      expect(await t.app.get(CleanupJob).run()).toEqual([]);
    }
    t.clock.advance((ttlSeconds * 1000) / 3);
    expect(await t.app.get(CleanupJob).run()).toEqual([]);
    const planner = (await request(t.server).get('/agents/planner').set(A).expect(200)).body;
    expect(planner).toMatchObject({ agent_id: 'planner', host: '10.0.0.1', is_alive: true });

    // B cannot register A's id with its own host, nor renew it.
    expectProblem(
      await request(t.server)
        .post('/agents/register')
        .set(B)
        .send(agent('planner', { host: '10.6.6.6' })),
      403,
      'Agent planner belongs to another API key.',
    );
    expect((await request(t.server).get('/agents/planner').set(A).expect(200)).body.host).toBe('10.0.0.1');

    // The id B hammered before it existed: A registers it and renews it from a full budget.
    await request(t.server).post('/agents/register').set(A).send(agent('planner-2')).expect(200);
    for (let i = 0; i < 5; i++) await request(t.server).post('/agents/planner-2/heartbeat').set(A).expect(200);
    // A's own budget is A's: past it, A's heartbeats are limited as before.
    const limited = await request(t.server).post('/agents/planner-2/heartbeat').set(A);
    expectProblem(
      limited,
      429,
      'Too many heartbeats for agent planner-2: at most 5 in 3600 seconds (HEARTBEAT_LIMIT). One every ' +
        'ttl_seconds/3 is enough.',
    );
  });

  it('AUTH_FAILURE_LIMIT: an address past it gets 429 without a known key, until its window ends; a known key is served', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn');
    t = await createTestApp(
      { REGISTRY_API_KEYS: KEYS, AUTH_FAILURE_LIMIT: '3/1m', REGISTRY_OPEN_ROUTES: 'probes' },
      dialect,
    );
    // Successful requests never count, however many.
    for (let i = 0; i < 10; i++) await request(t.server).get('/agents').set(A).expect(200);
    // Three failures: a wrong key, no key, a wrong key on the closed docs (below Nest's guards).
    expectProblem(await request(t.server).get('/agents').set(WRONG), 401, MISSING_KEY);
    await request(t.server).get('/agents').set(A).expect(200);
    expectProblem(await request(t.server).post('/agents/register').send(agent('x')), 401, MISSING_KEY);
    expect(await rawGet(t, '/docs-json', WRONG)).toBe(401);

    // Past the limit: a wrong key or none is a 429, the docs' too; the right key is served, the docs' too.
    const blocked = `Too many failed authentications from this address: at most 3 in 60 seconds (AUTH_FAILURE_LIMIT). Retry after Retry-After seconds.`;
    for (const headers of [WRONG, {}]) {
      const res = await request(t.server).get('/agents').set(headers);
      expectProblem(res, 429, blocked);
      expect(res.headers['retry-after']).toBe('60');
    }
    await request(t.server).get('/agents').set(A).expect(200);
    t.clock.advance(15_000);
    const docs = await request(t.server).get('/docs-json').set(WRONG);
    expectProblem(docs, 429, blocked);
    expect(docs.headers['retry-after']).toBe('45');
    await request(t.server).get('/docs-json').set(A).expect(200);
    // Routes open to everyone stay open.
    await request(t.server).get('/health/live').expect(200);

    // The window passes: a wrong key is answered 401 again, and counted afresh.
    t.clock.advance(45_000);
    await request(t.server).get('/agents').set(A).expect(200);
    expectProblem(await request(t.server).get('/agents').set(WRONG), 401, MISSING_KEY);

    // Logged at warn: the first failure of each window and the moment the address was blocked, never the secret.
    const lines = warn.mock.calls.map(([message]) => String(message)).filter((line) => /authentication/.test(line));
    expect(lines).toEqual([
      expect.stringMatching(/^Failed authentication from (::ffff:)?127\.0\.0\.1: GET \/agents without a key/),
      expect.stringMatching(
        /^3 failed authentications from (::ffff:)?127\.0\.0\.1 in the last 0 s: its requests without a known key get 429 for 60 s \(AUTH_FAILURE_LIMIT: at most 3 in 60 seconds\)\.$/,
      ),
      expect.stringMatching(/^Failed authentication from (::ffff:)?127\.0\.0\.1: GET \/agents without a key/),
    ]);
    for (const line of warn.mock.calls.flat().map(String)) expect(line).not.toContain(WRONG_SECRET);
  });

  it("AUTH_FAILURE_LIMIT behind one proxy address: an attacker's wrong keys get 429, a fleet's heartbeats keep its lease", async () => {
    // Every request here comes from 127.0.0.1, as every client does behind README's proxy on the same host.
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS, AUTH_FAILURE_LIMIT: '3/1m' }, dialect);
    const ttlSeconds = 6;
    await request(t.server)
      .post('/agents/register')
      .set(A)
      .send(agent('planner', { ttl_seconds: ttlSeconds }))
      .expect(200);
    const guesses: number[] = [];
    for (let i = 0; i < 4; i++) {
      // The attacker guesses on, with wrong keys and without one: 401 three times, then 429 to every guess.
      for (let guess = 0; guess < 5; guess++) {
        const res = await request(t.server)
          .post('/agents/planner/heartbeat')
          .set(guess % 2 ? {} : WRONG);
        guesses.push(res.status);
      }
      // The fleet behind the same address heartbeats every ttl/3, and its lease holds through cleanup.
      t.clock.advance((ttlSeconds * 1000) / 3);
      await request(t.server).post('/agents/planner/heartbeat').set(A).expect(200);
      expect(await t.app.get(CleanupJob).run()).toEqual([]);
    }
    expect(guesses).toEqual([401, 401, 401, ...Array<number>(17).fill(429)]);
    const planner = (await request(t.server).get('/agents/planner').set(B).expect(200)).body;
    expect(planner).toMatchObject({ agent_id: 'planner', is_alive: true });
  });

  it('REGISTRY_OPEN_ROUTES=none: every spelling of the docs answers as /docs-json does, never 200 without a key', async () => {
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS, REGISTRY_OPEN_ROUTES: 'none' }, dialect);
    // The router's spellings of the docs: 401 without a key, 200 with one, as /docs-json.
    for (const target of ['/docs-json', '/%64ocs-json', '/docs%2Djson', 'http://registry.example/docs-json']) {
      expect([target, await rawGet(t, target)]).toEqual([target, 401]);
      expect([target, await rawGet(t, target, WRONG)]).toEqual([target, 401]);
      expect([target, await rawGet(t, target, A)]).toEqual([target, 200]);
    }
    for (const target of ['/docs/', '/%64ocs/swagger-ui.css', '/docs-yaml', 'http://registry.example/docs/']) {
      expect([target, await rawGet(t, target)]).toEqual([target, 401]);
    }
    // Paths are case-sensitive: these are no route at all, with or without a key.
    for (const target of ['/DOCS-JSON', '/Docs/', 'http://registry.example/DOCS-JSON']) {
      expect([target, await rawGet(t, target)]).toEqual([target, 404]);
      expect([target, await rawGet(t, target, A)]).toEqual([target, 404]);
    }
  });
});
