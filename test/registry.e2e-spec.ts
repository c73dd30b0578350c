import request from 'supertest';
import { onEachDatabase } from './support/databases';
import { testHttpAdapter } from './support/http-adapter';
import { RegistryService } from '../src/registry/registry.service';
import { agent, createTestApp, storedAgentCount, TestApp } from './support/test-app';

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * The first issue's contract, which agents already speak, answered the same whoever may call: in open mode
 * (REGISTRY_AUTH=off), and with keys configured to a caller that sends an agent key (an admin key would see `owner`).
 */
const AGENT_SECRET = 'contract-agent-secret-0123456789';
const AUTH_MODES = [
  { mode: 'open mode', env: { REGISTRY_AUTH: 'off' }, headers: {} },
  {
    mode: 'an agent key',
    env: { REGISTRY_API_KEYS: `contract:agent:${AGENT_SECRET}` },
    headers: { Authorization: `Bearer ${AGENT_SECRET}` },
  },
];
const CASES = onEachDatabase().flatMap(([dialect]) => AUTH_MODES.map((auth) => ({ dialect, ...auth })));

describe.each(CASES)('Registry contract (HTTP + $dialect, $mode)', ({ dialect, env, headers }) => {
  let t: TestApp;

  beforeEach(async () => {
    t = await createTestApp(env, dialect);
  });

  afterEach(async () => {
    await t.close();
  });

  const register = (body: object) => request(t.server).post('/agents/register').set(headers).send(body);
  const heartbeat = (id: string) =>
    request(t.server)
      .post(`/agents/${encodeURIComponent(id)}/heartbeat`)
      .set(headers);
  const get = (id: string) =>
    request(t.server)
      .get(`/agents/${encodeURIComponent(id)}`)
      .set(headers);
  const list = (query = '') => request(t.server).get(`/agents${query}`).set(headers);
  const remove = (id: string) => request(t.server).delete(`/agents/${id}`).set(headers);

  it("serves on this jest project's HTTP adapter, with the same headers on both", async () => {
    expect(t.app.getHttpAdapter().getType()).toBe(testHttpAdapter());
    const res = await register(agent('planner-7')).expect(200);
    expect(res.headers).not.toHaveProperty('x-powered-by');
    expect(res.headers).not.toHaveProperty('etag');
  });

  describe('POST /agents/register', () => {
    it('creates an agent and answers 200 with its AgentInfo', async () => {
      const now = t.clock.now().toISOString();
      const res = await register(agent('planner-7', { metadata: '{"model":"x"}' })).expect(200);

      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.body).toEqual({
        agent_id: 'planner-7',
        agent_name: 'Agent planner-7',
        host: '10.0.0.1',
        port: 8080,
        ttl_seconds: 60,
        metadata: '{"model":"x"}',
        capabilities: [],
        labels: {},
        agent_card: null,
        registered_at: now,
        last_heartbeat: now,
        expires_at: new Date(t.clock.now().getTime() + 60_000).toISOString(),
        is_alive: true,
      });
      expect(res.body.registered_at).toMatch(ISO_UTC);
    });

    it('defaults ttl_seconds to 60 and metadata to null', async () => {
      const res = await register(agent('a')).expect(200);
      expect(res.body.ttl_seconds).toBe(60);
      expect(res.body.metadata).toBeNull();
    });

    it('accepts metadata: null and the bounds of every field', async () => {
      const body = agent('A'.repeat(255), {
        agent_name: 'n'.repeat(256),
        host: 'h'.repeat(256),
        port: 65535,
        ttl_seconds: 3600,
        metadata: 'm'.repeat(4000),
      });
      const res = await register(body).expect(200);
      expect(res.body).toMatchObject({ ...body, is_alive: true });
      await register(agent('z', { port: 1, ttl_seconds: 1, metadata: null, agent_name: 'x', host: 'h' })).expect(200);
      await get('z').expect(200, /"metadata":null/);
    });

    it('accepts every character the agent_id rule allows', async () => {
      const id = '9a.b_c:d@e-f';
      await register(agent(id)).expect(200);
      await get(id).expect(200);
    });

    it('on re-registration overwrites the fields, restarts the lease and keeps registered_at', async () => {
      const first = await register(agent('a', { ttl_seconds: 30, metadata: 'v1' })).expect(200);
      t.clock.advance(10_000);
      const second = await register(
        agent('a', { agent_name: 'renamed', host: 'other', port: 9090, ttl_seconds: 120, metadata: 'v2' }),
      ).expect(200);

      const now = t.clock.now().getTime();
      expect(second.body).toEqual({
        agent_id: 'a',
        agent_name: 'renamed',
        host: 'other',
        port: 9090,
        ttl_seconds: 120,
        metadata: 'v2',
        capabilities: [],
        labels: {},
        agent_card: null,
        registered_at: first.body.registered_at,
        last_heartbeat: new Date(now).toISOString(),
        expires_at: new Date(now + 120_000).toISOString(),
        is_alive: true,
      });
      await get('a').expect(200, second.body);
      expect((await list()).body).toHaveLength(1);
    });

    it('re-registration clears metadata that is no longer sent', async () => {
      await register(agent('a', { metadata: 'v1' })).expect(200);
      const res = await register(agent('a')).expect(200);
      expect(res.body.metadata).toBeNull();
    });

    it('concurrent registrations of one id all succeed, leave one row and keep the first registered_at', async () => {
      const first = await register(agent('contended')).expect(200);
      t.clock.advance(5_000);
      const results = await Promise.all(
        Array.from({ length: 25 }, (_, i) => register(agent('contended', { port: 1000 + i }))),
      );
      expect(results.map((r) => r.status)).toEqual(Array(25).fill(200));
      expect(results.map((r) => r.body.registered_at)).toEqual(Array(25).fill(first.body.registered_at));

      expect(await storedAgentCount(t.orm)).toBe(1);
      const stored = await get('contended').expect(200);
      expect(stored.body.registered_at).toBe(first.body.registered_at);
      expect(results.map((r) => r.body.port)).toContain(stored.body.port);
    });
  });

  describe('POST /agents/{agent_id}/heartbeat', () => {
    it('never moves a lease backwards, even when the clock is stepped back', async () => {
      await register(agent('a', { ttl_seconds: 30 })).expect(200);
      t.clock.advance(20_000);
      const renewed = (await heartbeat('a').expect(200)).body;
      t.clock.advance(-5_000);
      await heartbeat('a').expect(200, renewed);
      t.clock.advance(10_000);
      expect((await heartbeat('a').expect(200)).body.last_heartbeat).toBe(t.clock.now().toISOString());
    });

    it('renews the lease by ttl_seconds from now', async () => {
      await register(agent('a', { ttl_seconds: 30 })).expect(200);
      t.clock.advance(20_000);
      const now = t.clock.now().getTime();

      const res = await heartbeat('a').expect(200);
      expect(res.body).toEqual({
        status: 'ok',
        last_heartbeat: new Date(now).toISOString(),
        expires_at: new Date(now + 30_000).toISOString(),
      });
      const info = await get('a').expect(200);
      expect(info.body).toMatchObject({ last_heartbeat: res.body.last_heartbeat, expires_at: res.body.expires_at });
    });

    it('answers 404 problem details for an unknown agent', async () => {
      const res = await heartbeat('ghost').expect(404);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body).toEqual({
        type: 'about:blank',
        title: 'Not Found',
        status: 404,
        detail: 'Agent not found: ghost',
      });
    });

    it('revives an expired agent that cleanup has not removed yet', async () => {
      await register(agent('a', { ttl_seconds: 5 })).expect(200);
      t.clock.advance(6_000);
      expect((await get('a').expect(200)).body.is_alive).toBe(false);

      await heartbeat('a').expect(200);
      expect((await get('a').expect(200)).body.is_alive).toBe(true);
      expect((await list()).body.map((a: { agent_id: string }) => a.agent_id)).toEqual(['a']);
    });

    it('ignores a request body', async () => {
      await register(agent('a')).expect(200);
      await heartbeat('a').send({ anything: true }).expect(200);
    });
  });

  describe('GET /agents', () => {
    it('returns live agents ordered by agent_id', async () => {
      for (const id of ['c', 'a', 'b']) await register(agent(id)).expect(200);
      const res = await list().expect(200);
      expect(res.body.map((a: { agent_id: string }) => a.agent_id)).toEqual(['a', 'b', 'c']);
      expect(res.body[0]).toMatchObject({ agent_id: 'a', is_alive: true });
    });

    it('hides an agent from the moment its lease runs out, before any cleanup', async () => {
      await register(agent('short', { ttl_seconds: 10 })).expect(200);
      await register(agent('long', { ttl_seconds: 100 })).expect(200);

      t.clock.advance(9_999);
      expect((await list()).body.map((a: { agent_id: string }) => a.agent_id)).toEqual(['long', 'short']);
      t.clock.advance(1); // now === expires_at: no longer alive
      expect((await list()).body.map((a: { agent_id: string }) => a.agent_id)).toEqual(['long']);
    });

    it('include_dead=true also returns expired agents, with is_alive false', async () => {
      await register(agent('dead', { ttl_seconds: 1 })).expect(200);
      await register(agent('live', { ttl_seconds: 100 })).expect(200);
      t.clock.advance(1_000);

      const res = await list('?include_dead=true').expect(200);
      expect(res.body.map((a: { agent_id: string; is_alive: boolean }) => [a.agent_id, a.is_alive])).toEqual([
        ['dead', false],
        ['live', true],
      ]);
      expect((await list('?include_dead=false')).body).toHaveLength(1);
    });

    it.each(['True', 'true', '1', 'yes', 'on'])('reads include_dead=%s as true', async (value) => {
      await register(agent('dead', { ttl_seconds: 1 })).expect(200);
      t.clock.advance(1_000);
      expect((await list(`?include_dead=${value}`).expect(200)).body).toHaveLength(1);
    });

    it.each(['False', 'false', '0', 'no', 'off'])('reads include_dead=%s as false', async (value) => {
      await register(agent('dead', { ttl_seconds: 1 })).expect(200);
      t.clock.advance(1_000);
      expect((await list(`?include_dead=${value}`).expect(200)).body).toHaveLength(0);
    });

    it('returns every match when no paging parameters are given', async () => {
      await Promise.all(Array.from({ length: 300 }, (_, i) => register(agent(`agent-${String(i).padStart(3, '0')}`))));
      const res = await list().expect(200);
      expect(res.body).toHaveLength(300);
    });

    it('returns an empty array when nothing is registered', async () => {
      await list().expect(200, []);
    });
  });

  describe('GET /agents/{agent_id}', () => {
    it('returns the agent, also after its lease ran out and before cleanup', async () => {
      const registered = await register(agent('a', { ttl_seconds: 1 })).expect(200);
      await get('a').expect(200, registered.body);
      t.clock.advance(1_000);
      await get('a').expect(200, { ...registered.body, is_alive: false });
    });

    it('answers 404 problem details for an unknown agent', async () => {
      const res = await get('nobody').expect(404);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body.detail).toBe('Agent not found: nobody');
    });

    it('lookups that arrive together share one query, and each gets its own answer', async () => {
      for (let i = 0; i < 20; i++) await register(agent(`agent-${i}`, { port: 1000 + i })).expect(200);
      const service = t.app.get(RegistryService);
      const logged = jest.spyOn(t.orm.config.getLogger(), 'logQuery');
      const ids = [...Array.from({ length: 20 }, (_, i) => `agent-${i}`), 'agent-3', 'nobody'];
      const answers = await Promise.all(
        ids.map((id) =>
          service.get(id).then(
            (info) => info.port,
            (error: { status?: number }) => error.status,
          ),
        ),
      );
      // The change feed polls the event log meanwhile: count only what read agents.
      const statements = logged.mock.calls
        .map(([context]) => String(context.query))
        .filter((query) => query.includes('from agent_record'))
        .map((query) => query.split(' ')[0].toLowerCase());
      logged.mockRestore();

      expect(answers).toEqual([...Array.from({ length: 20 }, (_, i) => 1000 + i), 1003, 404]);
      expect(statements).toEqual(['select']);
      // And over HTTP, concurrently: every answer is its own agent's.
      const responses = await Promise.all(ids.map((id) => get(id)));
      expect(responses.map((res) => res.body.port ?? res.status)).toEqual(answers);
    });
  });

  describe('DELETE /agents/{agent_id}', () => {
    it('removes the agent', async () => {
      await register(agent('a')).expect(200);
      await register(agent('b')).expect(200);
      await remove('a').expect(200, { status: 'deleted', agent_id: 'a' });
      await get('a').expect(404);
      await heartbeat('a').expect(404);
      expect((await list('?include_dead=true')).body.map((a: { agent_id: string }) => a.agent_id)).toEqual(['b']);
    });

    it('answers 404 when the agent is absent', async () => {
      const res = await remove('a').expect(404);
      expect(res.body).toMatchObject({ status: 404, detail: 'Agent not found: a' });
    });
  });
});
