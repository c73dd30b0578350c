import { networkInterfaces } from 'node:os';
import { AddressInfo } from 'node:net';
import request from 'supertest';
import { EXAMPLE_AGENT_CARD } from '../src/registry/agent-card';
import { createTestDatabase, onEachDatabase, TestDatabase } from './support/databases';
import { openEventStream } from './support/event-stream';
import { expectProblem } from './support/problem';
import { agent, createTestApp, TestApp } from './support/test-app';

const SECRETS = {
  reader: 'reader-secret-0123456789',
  agent: 'agent-secret-0123456789',
  admin: 'admin-secret-0123456789',
  /** A second agent key: a fleet that does not own the first one's agents. */
  other: 'other-secret-0123456789',
};
const KEYS = Object.entries(SECRETS)
  .map(([name, secret]) => `${name}-key:${name === 'other' ? 'agent' : name}:${secret}`)
  .join(',');

type Caller = 'nobody' | 'unknown' | keyof typeof SECRETS;
const CALLERS: Caller[] = ['nobody', 'unknown', 'reader', 'agent', 'admin'];
const headersOf = (caller: Caller): Record<string, string> =>
  caller === 'nobody'
    ? {}
    : { Authorization: `Bearer ${caller === 'unknown' ? 'not-a-key-0123456789' : SECRETS[caller]}` };

/** Each route once, with who may call it. */
const ROUTES: {
  name: string;
  level: 'public' | 'read' | 'write';
  send: (t: TestApp, caller: Caller) => Promise<number>;
}[] = [
  { name: 'GET /agents', level: 'read', send: (t, c) => get(t, '/agents', c) },
  { name: 'GET /agents/{id}', level: 'read', send: (t, c) => get(t, '/agents/seed', c) },
  { name: 'GET /agents/{id}/card', level: 'read', send: (t, c) => get(t, '/agents/seed/card', c) },
  { name: 'GET /sd/prometheus', level: 'read', send: (t, c) => get(t, '/sd/prometheus', c) },
  { name: 'GET /health', level: 'read', send: (t, c) => get(t, '/health', c) },
  { name: 'GET /metrics', level: 'read', send: (t, c) => get(t, '/metrics', c) },
  {
    name: 'GET /events',
    level: 'read',
    send: async (t, c) => {
      const stream = await openEventStream(t.server, '/events', headersOf(c));
      stream.close();
      return stream.status;
    },
  },
  {
    name: 'POST /agents/register',
    level: 'write',
    send: async (t, c) =>
      (
        await request(t.server)
          .post('/agents/register')
          .set(headersOf(c))
          .send(agent(`new-${c}`))
      ).status,
  },
  {
    name: 'POST /agents/{id}/heartbeat',
    level: 'write',
    send: async (t, c) => (await request(t.server).post('/agents/seed/heartbeat').set(headersOf(c))).status,
  },
  {
    name: 'DELETE /agents/{id}',
    level: 'write',
    send: async (t, c) => {
      await request(t.server)
        .post('/agents/register')
        .set(headersOf('agent'))
        .send(agent(`doomed-${c}`))
        .expect(200);
      return (await request(t.server).delete(`/agents/doomed-${c}`).set(headersOf(c))).status;
    },
  },
  { name: 'GET /health/live', level: 'public', send: (t, c) => get(t, '/health/live', c) },
  { name: 'GET /health/ready', level: 'public', send: (t, c) => get(t, '/health/ready', c) },
  { name: 'GET /docs-json', level: 'public', send: (t, c) => get(t, '/docs-json', c) },
];

async function get(t: TestApp, path: string, caller: Caller): Promise<number> {
  return (await request(t.server).get(path).set(headersOf(caller))).status;
}

function expectedStatus(level: 'public' | 'read' | 'write', caller: Caller): number {
  if (level === 'public') return 200;
  if (caller === 'nobody' || caller === 'unknown') return 401;
  if (level === 'write' && caller === 'reader') return 403;
  return 200;
}

describe.each(onEachDatabase())('API keys (HTTP + %s)', (dialect) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS }, dialect);
    // Owned by the agent key, which may then renew it; the admin key may renew any agent.
    await request(t.server)
      .post('/agents/register')
      .set(headersOf('agent'))
      .send(agent('seed', { agent_card: EXAMPLE_AGENT_CARD }))
      .expect(200);
  });

  afterAll(() => t.close());

  describe.each(ROUTES)('$name ($level)', ({ level, send }) => {
    it.each(CALLERS)('called by %s', async (caller) => {
      expect(await send(t, caller)).toBe(expectedStatus(level, caller));
    });
  });

  describe('ownership', () => {
    const as = (caller: Caller) => ({
      register: (id: string, fields: Record<string, unknown> = {}) =>
        request(t.server).post('/agents/register').set(headersOf(caller)).send(agent(id, fields)),
      heartbeat: (id: string) => request(t.server).post(`/agents/${id}/heartbeat`).set(headersOf(caller)),
      deregister: (id: string) => request(t.server).delete(`/agents/${id}`).set(headersOf(caller)),
      get: (id: string) => request(t.server).get(`/agents/${id}`).set(headersOf(caller)),
    });

    it('the key that registers an agent first owns it: another agent key gets 403 and changes nothing', async () => {
      await as('agent').register('owned', { port: 1111 }).expect(200);
      for (const res of [
        await as('other').register('owned', { port: 2222 }),
        await as('other').heartbeat('owned'),
        await as('other').deregister('owned'),
      ]) {
        expectProblem(res, 403, 'Agent owned belongs to another API key.');
      }
      const stored = (await as('admin').get('owned').expect(200)).body;
      expect(stored).toMatchObject({ port: 1111, owner: 'agent-key' });
      await as('agent').heartbeat('owned').expect(200);
      await as('agent').register('owned', { port: 3333 }).expect(200);
      await as('agent').deregister('owned').expect(200);
      // Gone, it is anyone's to register again.
      await as('other').register('owned').expect(200);
      expect((await as('admin').get('owned')).body.owner).toBe('other-key');
    });

    it('an admin key renews, re-registers and deletes any agent, and its owner stays', async () => {
      await as('agent').register('managed').expect(200);
      await as('admin').heartbeat('managed').expect(200);
      await as('admin').register('managed', { port: 4444 }).expect(200);
      expect((await as('admin').get('managed')).body).toMatchObject({ port: 4444, owner: 'agent-key' });
      await as('admin').deregister('managed').expect(200);
      await as('agent').get('managed').expect(404);
    });

    it('shows the owner to admin keys only', async () => {
      const registered = await as('agent').register('shown').expect(200);
      expect(registered.body).not.toHaveProperty('owner');
      expect((await as('reader').get('shown')).body).not.toHaveProperty('owner');
      expect((await as('agent').get('shown')).body).not.toHaveProperty('owner');
      const listed = (await request(t.server).get('/agents').set(headersOf('admin')).expect(200)).body as {
        agent_id: string;
        owner?: string;
      }[];
      expect(listed.find((a) => a.agent_id === 'shown')?.owner).toBe('agent-key');
      const forReader = (await request(t.server).get('/agents').set(headersOf('reader')).expect(200)).body;
      expect(forReader.every((a: object) => !('owner' in a))).toBe(true);
    });

    it('heartbeats of several keys in one batch: each renews what it owns, 403 for the rest, 404 for the unknown', async () => {
      await as('agent').register('mine').expect(200);
      await as('other').register('theirs').expect(200);
      const statuses = await Promise.all([
        as('agent').heartbeat('mine'),
        as('other').heartbeat('theirs'),
        as('other').heartbeat('mine'),
        as('agent').heartbeat('theirs'),
        as('admin').heartbeat('mine'),
        as('agent').heartbeat('nobody-has-this'),
        as('other').deregister('mine'),
        as('agent').register('theirs', { port: 5555 }),
      ]).then((responses) => responses.map((res) => res.status));
      expect(statuses).toEqual([200, 200, 403, 403, 200, 404, 403, 403]);
      expect((await as('admin').get('theirs')).body).toMatchObject({ port: 8080, owner: 'other-key' });
      await as('admin').get('mine').expect(200);
    });
  });

  it('401 carries WWW-Authenticate: Bearer and the same problem details for a missing and an unknown key', async () => {
    const missing = await request(t.server).get('/agents').expect(401);
    const unknown = await request(t.server).get('/agents').set(headersOf('unknown')).expect(401);
    for (const res of [missing, unknown]) {
      expect(res.headers['www-authenticate']).toBe('Bearer');
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    expect(unknown.body).toEqual(missing.body);
    expect(missing.body).toEqual({
      type: 'about:blank',
      title: 'Unauthorized',
      status: 401,
      detail: 'A valid API key is required: send it as "Authorization: Bearer <key>".',
    });
  });

  it('403 names the role needed, as problem details, and the write leaves nothing behind', async () => {
    const res = await request(t.server)
      .post('/agents/register')
      .set(headersOf('reader'))
      .send(agent('by-reader'))
      .expect(403);
    expectProblem(res, 403, 'This needs the agent or admin role.');
    await request(t.server).get('/agents/by-reader').set(headersOf('admin')).expect(404);
  });

  it('takes the key from X-API-Key too, and a lower-case bearer scheme; not from Basic or a query string', async () => {
    await request(t.server).get('/agents').set('X-API-Key', SECRETS.reader).expect(200);
    await request(t.server).get('/agents').set('Authorization', `bearer ${SECRETS.reader}`).expect(200);
    await request(t.server)
      .get('/agents')
      .set('Authorization', `Basic ${Buffer.from(`x:${SECRETS.admin}`).toString('base64')}`)
      .expect(401);
    await request(t.server).get(`/agents?api_key=${SECRETS.admin}`).expect(401);
  });

  it('documents both schemes in the OpenAPI document, and which operations need none', async () => {
    const doc = (await request(t.server).get('/docs-json').expect(200)).body;
    expect(doc.components.securitySchemes).toEqual({
      bearer: expect.objectContaining({ type: 'http', scheme: 'bearer' }),
      'api-key': expect.objectContaining({ type: 'apiKey', in: 'header', name: 'X-API-Key' }),
    });
    expect(doc.paths['/agents/register'].post.security).toEqual(
      expect.arrayContaining([{ bearer: [] }, { 'api-key': [] }]),
    );
    expect(doc.paths['/agents/register'].post.responses['401']).toBeDefined();
    // The probes take a key, but need none while REGISTRY_OPEN_ROUTES lists them (the default).
    expect(doc.paths['/health/live'].get.security).toEqual(expect.arrayContaining([{}, { bearer: [] }]));
    expect(doc.paths['/health'].get.security).not.toContainEqual({});
  });
});

describe.each(onEachDatabase())('REGISTRY_OPEN_ROUTES (HTTP + %s)', (dialect) => {
  let t: TestApp | undefined;

  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  const PROBES = ['/health/live', '/health/ready'];
  const DOCS = ['/docs', '/docs/', '/docs/swagger-ui.css', '/docs-json', '/docs-yaml'];

  async function expectClosed(path: string): Promise<void> {
    const res = await request(t!.server).get(path);
    expect({ path, status: res.status }).toEqual({ path, status: 401 });
    expectProblem(res, 401, 'A valid API key is required: send it as "Authorization: Bearer <key>".');
    expect(res.headers['www-authenticate']).toBe('Bearer');
    expect((await request(t!.server).get(path).set(headersOf('unknown'))).status).toBe(401);
    expect((await request(t!.server).get(path).set(headersOf('reader'))).status).toBe(200);
  }

  async function expectOpen(path: string): Promise<void> {
    expect({ path, status: (await request(t!.server).get(path)).status }).toEqual({ path, status: 200 });
  }

  it('none: the probes and the docs need a reader key, like every GET', async () => {
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS, REGISTRY_OPEN_ROUTES: 'none' }, dialect);
    for (const path of [...PROBES, ...DOCS]) await expectClosed(path);
    // A key whose role may read: any of them.
    await request(t.server).get('/docs-json').set(headersOf('agent')).expect(200);
  });

  it('docs only: the probes need a key, the docs do not', async () => {
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS, REGISTRY_OPEN_ROUTES: 'docs' }, dialect);
    for (const path of PROBES) await expectClosed(path);
    for (const path of DOCS) await expectOpen(path);
  });

  it('the default opens the probes and the docs, not the metrics', async () => {
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS }, dialect);
    for (const path of [...PROBES, ...DOCS]) await expectOpen(path);
    await expectClosed('/metrics');
  });

  it('metrics: /metrics for every scraper, in the Prometheus text format, with the process metrics', async () => {
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS, REGISTRY_OPEN_ROUTES: 'probes,metrics' }, dialect);
    const res = await request(t.server).get('/metrics').expect(200);
    // Express puts its charset first; Prometheus reads either.
    expect(res.headers['content-type']).toMatch(/^text\/plain;.*\bversion=0\.0\.4\b/);
    expect(res.text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(res.text).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
    expect(res.text).toMatch(/^agent_registry_expiry_guard_engaged 0$/m);
    for (const path of DOCS) await expectClosed(path);
  });
});

describe.each(onEachDatabase())('Ownership across restarts (%s)', (dialect) => {
  let database: TestDatabase;
  let t: TestApp | undefined;

  beforeEach(async () => (database = await createTestDatabase(dialect)));
  afterEach(async () => {
    await t?.close();
    await database.drop();
  });

  it("survives a restart; agents registered without keys are anyone's until a key registers them", async () => {
    t = await createTestApp({ DATABASE_URL: database.url }, dialect);
    await request(t.server).post('/agents/register').send(agent('unowned')).expect(200);
    await t.close();

    t = await createTestApp({ DATABASE_URL: database.url, REGISTRY_API_KEYS: KEYS }, dialect);
    await request(t.server).post('/agents/register').set(headersOf('agent')).send(agent('owned')).expect(200);
    await request(t.server).post('/agents/unowned/heartbeat').set(headersOf('other')).expect(200);
    // Registering an agent nobody owns claims it.
    await request(t.server).post('/agents/register').set(headersOf('other')).send(agent('unowned')).expect(200);
    await t.close();

    t = await createTestApp({ DATABASE_URL: database.url, REGISTRY_API_KEYS: KEYS }, dialect);
    await request(t.server).post('/agents/owned/heartbeat').set(headersOf('other')).expect(403);
    await request(t.server).post('/agents/unowned/heartbeat').set(headersOf('agent')).expect(403);
    await request(t.server).post('/agents/owned/heartbeat').set(headersOf('agent')).expect(200);
    const owners = (await request(t.server).get('/agents').set(headersOf('admin')).expect(200)).body.map(
      (a: { agent_id: string; owner: string }) => [a.agent_id, a.owner],
    );
    expect(owners).toEqual([
      ['owned', 'agent-key'],
      ['unowned', 'other-key'],
    ]);
  });
});

/** An address of this host that is not loopback, to call the registry from as if from elsewhere. */
function externalAddress(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((address) => address && address.family === 'IPv4' && !address.internal)?.address;
}

describe('Protected mode: no keys configured', () => {
  let t: TestApp;

  afterEach(() => t.close());

  it('serves loopback clients, refuses others with 403 (health probes stay open)', async () => {
    const address = externalAddress();
    if (!address) {
      if (process.env.CI) throw new Error('no non-loopback IPv4 address to test protected mode from');
      console.warn('Skipping: this host has no non-loopback IPv4 address');
      return;
    }
    t = await createTestApp();
    await new Promise<void>((resolve) => t.server.listen(0, '0.0.0.0', resolve));
    const { port } = t.server.address() as AddressInfo;
    await request(`http://127.0.0.1:${port}`).post('/agents/register').send(agent('local')).expect(200);
    const remote = request(`http://${address}:${port}`);
    expectProblem(await remote.get('/agents'), 403, /protected mode/);
    await remote.post('/agents/register').send(agent('remote')).expect(403);
    // A forwarding header does not make a remote client local.
    await remote.get('/agents').set('X-Forwarded-For', '127.0.0.1').expect(403);
    await remote.get('/health/live').expect(200);
    await remote.get('/docs-json').expect(200);
    await request(`http://127.0.0.1:${port}`).get('/agents/remote').expect(404);
  });

  it('with REGISTRY_OPEN_ROUTES=none, serves the probes and the docs to loopback clients only', async () => {
    const address = externalAddress();
    if (!address) {
      if (process.env.CI) throw new Error('no non-loopback IPv4 address to test protected mode from');
      return;
    }
    t = await createTestApp({ REGISTRY_OPEN_ROUTES: 'none' });
    await new Promise<void>((resolve) => t.server.listen(0, '0.0.0.0', resolve));
    const { port } = t.server.address() as AddressInfo;
    for (const path of ['/health/live', '/health/ready', '/docs', '/docs-json']) {
      await request(`http://127.0.0.1:${port}`).get(path).expect(200);
      const refused = await request(`http://${address}:${port}`).get(path);
      expect({ path, status: refused.status }).toEqual({ path, status: 403 });
      expectProblem(refused, 403, /protected mode/);
    }
  });

  it('REGISTRY_AUTH=off serves everyone without a key', async () => {
    const address = externalAddress();
    t = await createTestApp({ REGISTRY_AUTH: 'off' });
    await new Promise<void>((resolve) => t.server.listen(0, '0.0.0.0', resolve));
    const { port } = t.server.address() as AddressInfo;
    await request(`http://${address ?? '127.0.0.1'}:${port}`)
      .post('/agents/register')
      .send(agent('anyone'))
      .expect(200);
  });
});
