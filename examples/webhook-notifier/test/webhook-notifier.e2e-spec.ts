import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import request from 'supertest';
import { openApiDocument } from '../../../src/app.setup';
import { migrateDatabase } from '../../../src/migrate';
import { RegistryEvent } from '../../../src/extending';
import { CleanupJob } from '../../../src/scheduler/cleanup.job';
import { createTestDatabase, onEachDatabase } from '../../../test/support/databases';
import { FakeClock } from '../../../test/support/fake-clock';
import { expectProblem } from '../../../test/support/problem';
import { agent, createTestApp, TestApp, testConfig } from '../../../test/support/test-app';
import { WebhookNotifierModule } from '../webhook-notifier.module';

const KEYS = 'ops:admin:admin-secret-0123456789,fleet:agent:agent-secret-0123456789';
const ADMIN = { Authorization: 'Bearer admin-secret-0123456789' };
const AGENT = { Authorization: 'Bearer agent-secret-0123456789' };

/** A local HTTP server that records the JSON POSTed to it; `status` is what it answers. */
class Receiver {
  readonly received: RegistryEvent[] = [];
  status = 204;
  private readonly server: Server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      this.received.push(JSON.parse(body) as RegistryEvent);
      res.writeHead(this.status).end();
    });
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  async waitFor(count: number): Promise<RegistryEvent[]> {
    for (let i = 0; i < 200 && this.received.length < count; i++) await new Promise((r) => setTimeout(r, 10));
    expect(this.received).toHaveLength(count);
    return this.received;
  }
}

describe.each(onEachDatabase())('examples/webhook-notifier (%s)', (dialect) => {
  let t: TestApp;
  let receiver: Receiver;
  let url: string;

  beforeAll(async () => {
    receiver = new Receiver();
    url = await receiver.start();
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS }, dialect, new FakeClock(), {
      imports: [WebhookNotifierModule.forRoot({ timeoutMs: 1000 })],
    });
  });
  afterAll(async () => {
    await t.close();
    await receiver.stop();
  });
  beforeEach(() => (receiver.received.length = 0));

  it("records its migration in the registry's migrations table, after the core's", async () => {
    const rows = await t.orm.em
      .getConnection()
      .execute<{ name: string }[]>('select name from mikro_orm_migrations order by id');
    expect(rows[rows.length - 1].name).toBe('WebhookNotifier20261207150000');
    expect(rows.length).toBeGreaterThan(1);
  });

  it('guards its routes with @Access: 401 without a key, 403 with an agent key', async () => {
    expectProblem(await request(t.server).get('/webhooks'), 401, /API key is required/);
    expectProblem(await request(t.server).get('/webhooks').set(AGENT), 403, 'This needs the admin role.');
    await request(t.server).get('/webhooks').set(ADMIN).expect(200, []);
  });

  it('validates a subscription like any request body', async () => {
    const res = await request(t.server).post('/webhooks').set(ADMIN).send({ url: 'not a url' });
    expectProblem(res, 400, /url/);
  });

  it('POSTs each event to the subscribed URLs, after the write committed', async () => {
    const created = await request(t.server).post('/webhooks').set(ADMIN).send({ url }).expect(201);
    expect(created.body).toMatchObject({ url, events: [] });
    await request(t.server).get('/webhooks').set(ADMIN).expect(200, [created.body]);

    await request(t.server)
      .post('/agents/register')
      .set(AGENT)
      .send(agent('hooked', { ttl_seconds: 10 }))
      .expect(200);
    await request(t.server)
      .post('/agents/register')
      .set(AGENT)
      .send(agent('hooked', { ttl_seconds: 10, port: 9090 }))
      .expect(200);
    await request(t.server)
      .post('/agents/register')
      .set(AGENT)
      .send(agent('expiring', { ttl_seconds: 10 }));
    await request(t.server).delete('/agents/hooked').set(AGENT).expect(200);
    t.clock.advance(11_000);
    await t.app.get(CleanupJob).run();

    const events = await receiver.waitFor(5);
    expect(events.map((e) => [e.type, e.agentId])).toEqual([
      ['registered', 'hooked'],
      ['updated', 'hooked'],
      ['registered', 'expiring'],
      ['deregistered', 'hooked'],
      ['expired', 'expiring'],
    ]);
    expect(events[1]).toMatchObject({ agent: { port: 9090 }, previous: { port: 8080 } });
    expect(events.map((e) => e.revision)).toEqual([1, 2, 3, 4, 5].map((i) => events[0].revision + i - 1));
    expect(new Date(events[4].at).toISOString()).toBe(events[4].at);

    await request(t.server).delete(`/webhooks/${created.body.id}`).set(ADMIN).expect(204);
    expectProblem(
      await request(t.server).delete(`/webhooks/${created.body.id}`).set(ADMIN),
      404,
      `Webhook not found: ${created.body.id}`,
    );
  });

  it('sends only the event types asked for; a receiver that fails does not fail the write', async () => {
    receiver.status = 500;
    const created = await request(t.server)
      .post('/webhooks')
      .set(ADMIN)
      .send({ url, events: ['deregistered'] })
      .expect(201);
    await request(t.server).post('/agents/register').set(AGENT).send(agent('quiet')).expect(200);
    await request(t.server).delete('/agents/quiet').set(AGENT).expect(200);
    expect((await receiver.waitFor(1)).map((e) => e.type)).toEqual(['deregistered']);
    receiver.status = 204;
    await request(t.server).delete(`/webhooks/${created.body.id}`).set(ADMIN).expect(204);
  });

  it('shows its routes in the OpenAPI document with their security and answers', () => {
    const doc = openApiDocument(t.app);
    const create = doc.paths['/webhooks'].post!;
    expect(create.security).toEqual([{ bearer: [] }, { 'api-key': [] }]);
    expect(Object.keys(create.responses).sort()).toEqual(['201', '400', '401', '403', '429']);
    expect(doc.paths['/webhooks/{id}'].delete!.responses).toHaveProperty('404');
  });
});

describe.each(onEachDatabase())('examples/webhook-notifier with npm run migrate (%s)', (dialect) => {
  it("applies the module's migrations with the core's when the app boots without migrating", async () => {
    const database = await createTestDatabase(dialect);
    try {
      await migrateDatabase(testConfig({ DATABASE_URL: database.url }), {
        imports: [WebhookNotifierModule.forRoot()],
      });
      const t = await createTestApp(
        { DATABASE_URL: database.url, MIGRATE_ON_BOOT: 'false', REGISTRY_API_KEYS: KEYS },
        dialect,
        new FakeClock(),
        { imports: [WebhookNotifierModule.forRoot()] },
      );
      try {
        await request(t.server).get('/webhooks').set(ADMIN).expect(200, []);
      } finally {
        await t.close();
      }
    } finally {
      await database.drop();
    }
  });
});
