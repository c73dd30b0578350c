import { join } from 'node:path';
import request from 'supertest';
import { agent, createTestApp, storedAgentCount, TestApp, tempDir } from './support/test-app';

/**
 * Two app instances on one SQLite file: each has its own connection, so their writes really race at the database
 * (within one app, the single pooled connection serialises them).
 */
describe('Two registries on one SQLite file', () => {
  let a: TestApp;
  let b: TestApp;
  let remove: () => void;

  beforeEach(async () => {
    const dir = tempDir();
    remove = dir.remove;
    const env = { DATABASE_URL: `sqlite:${join(dir.dir, 'shared.sqlite')}` };
    a = await createTestApp(env);
    b = await createTestApp(env);
    b.clock.set(a.clock.now());
  });

  afterEach(async () => {
    await a.close();
    await b.close();
    remove();
  });

  it('concurrent registrations of one id from both leave one row, all answered 200', async () => {
    const first = await request(a.server).post('/agents/register').send(agent('shared')).expect(200);
    a.clock.advance(1_000);
    b.clock.advance(1_000);

    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        request((i % 2 === 0 ? a : b).server)
          .post('/agents/register')
          .send(agent('shared', { port: 2000 + i })),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(30).fill(200));
    expect(new Set(results.map((r) => r.body.registered_at))).toEqual(new Set([first.body.registered_at]));

    expect(await storedAgentCount(a.orm)).toBe(1);
    const seenByB = await request(b.server).get('/agents/shared').expect(200);
    expect(results.map((r) => r.body.port)).toContain(seenByB.body.port);
  });

  it('concurrent first registrations of one id from both: all 200, one row, one registered_at', async () => {
    b.clock.advance(1_000); // a registration that read the row and wrote back its own time would show
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        request((i % 2 === 0 ? a : b).server)
          .post('/agents/register')
          .send(agent('fresh', { port: 2000 + i })),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(30).fill(200));
    expect(await storedAgentCount(a.orm)).toBe(1);
    const stored = await request(b.server).get('/agents/fresh').expect(200);
    expect(new Set(results.map((r) => r.body.registered_at))).toEqual(new Set([stored.body.registered_at]));
  });

  it('a heartbeat on one is seen by the other', async () => {
    await request(a.server)
      .post('/agents/register')
      .send(agent('x', { ttl_seconds: 10 }))
      .expect(200);
    b.clock.advance(8_000);
    const beat = await request(b.server).post('/agents/x/heartbeat').expect(200);
    const info = await request(a.server).get('/agents/x').expect(200);
    expect(info.body.expires_at).toBe(beat.body.expires_at);
  });
});
