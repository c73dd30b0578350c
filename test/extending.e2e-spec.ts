import { Migration } from '@mikro-orm/migrations';
import { Injectable, Module } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import request from 'supertest';
import {
  AGENT_DEREGISTERED,
  AGENT_REGISTERED,
  DatabaseModule,
  RegisterAgentRequest,
  RegistrationContext,
  RegistrationPolicy,
  RegistrationRefusedException,
  RegistryEvent,
} from '../src/extending';
import { RegistryModule } from '../src/registry/registry.module';
import { RegistryService } from '../src/registry/registry.service';
import { onEachDatabase } from './support/databases';
import { FakeClock } from './support/fake-clock';
import { expectProblem } from './support/problem';
import { agent, createTestApp, TestApp } from './support/test-app';

/** Calls, in order, across the test module's listeners and policies. */
const calls: string[] = [];

@Injectable()
class Listeners {
  /** What GET /agents/{id} answered when the listener ran: the write had committed. */
  seen: (string | undefined)[] = [];
  constructor(private readonly registry: RegistryService) {}

  @OnEvent(AGENT_REGISTERED)
  async stored(event: RegistryEvent): Promise<void> {
    calls.push(`event ${event.agentId}`);
    this.seen.push((await this.registry.get(event.agentId)).agent_id);
  }

  @OnEvent(AGENT_REGISTERED)
  throws(): void {
    throw new Error('a listener that throws');
  }

  /** Never settles: the write must not wait for it. */
  @OnEvent(AGENT_DEREGISTERED)
  hangs(): Promise<void> {
    return new Promise(() => undefined);
  }
}

@RegistrationPolicy({ order: 2 })
@Injectable()
class Second implements RegistrationPolicy {
  review(registration: RegisterAgentRequest): RegisterAgentRequest | void {
    calls.push(`second ${registration.labels?.zone ?? '-'}`);
    if (registration.agent_id === 'refused') throw new RegistrationRefusedException('Not this one.', 403);
    if (registration.agent_id === 'broken') return { ...registration, port: 0 };
    // Edits in place and returns nothing: an amendment all the same, checked like one.
    if (registration.agent_id === 'edited') registration.labels = { ...registration.labels, edited: 'yes' };
    if (registration.agent_id === 'broken-in-place') registration.port = 0;
  }
}

@RegistrationPolicy({ order: 1 })
@Injectable()
class First implements RegistrationPolicy {
  review(registration: RegisterAgentRequest, { caller }: RegistrationContext): RegisterAgentRequest {
    calls.push(`first ${caller?.name} ${caller?.role}`);
    return { ...registration, labels: { ...registration.labels, zone: 'a' } };
  }
}

@Module({ imports: [RegistryModule], providers: [Listeners, Second, First] })
class TestExtension {}

const KEYS = 'fleet:agent:agent-secret-0123456789';
const AGENT = { Authorization: 'Bearer agent-secret-0123456789' };

describe.each(onEachDatabase())('extension points (%s)', (dialect) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS }, dialect, new FakeClock(), {
      imports: [TestExtension],
    });
  });
  afterAll(() => t.close());
  beforeEach(() => (calls.length = 0));

  it('runs the policies in order with the caller, each seeing the one before, before the write', async () => {
    const res = await request(t.server).post('/agents/register').set(AGENT).send(agent('amended')).expect(200);
    expect(res.body.labels).toEqual({ zone: 'a' });
    await waitFor(() => calls.length === 3);
    expect(calls).toEqual(['first fleet agent', 'second a', 'event amended']);
  });

  it('emits after the commit; a throwing or hanging listener neither fails nor holds the write', async () => {
    await request(t.server).post('/agents/register').set(AGENT).send(agent('committed')).expect(200);
    await waitFor(() => t.app.get(Listeners).seen.includes('committed'));
    await request(t.server).delete('/agents/committed').set(AGENT).expect(200);
    await request(t.server).post('/agents/register').set(AGENT).send(agent('committed')).expect(200);
  });

  it("answers a policy's refusal as problem details and writes nothing", async () => {
    expectProblem(
      await request(t.server).post('/agents/register').set(AGENT).send(agent('refused')),
      403,
      'Not this one.',
    );
    await request(t.server).get('/agents/refused').set(AGENT).expect(404);
  });

  it('answers 500 to a registration a policy made invalid, and writes nothing', async () => {
    expectProblem(
      await request(t.server).post('/agents/register').set(AGENT).send(agent('broken')),
      500,
      'An unexpected error occurred.',
    );
    await request(t.server).get('/agents/broken').set(AGENT).expect(404);
  });

  it('takes an amendment made in place, and checks it like any other', async () => {
    const res = await request(t.server).post('/agents/register').set(AGENT).send(agent('edited')).expect(200);
    expect(res.body.labels).toEqual({ zone: 'a', edited: 'yes' });
    expectProblem(
      await request(t.server).post('/agents/register').set(AGENT).send(agent('broken-in-place')),
      500,
      'An unexpected error occurred.',
    );
    await request(t.server).get('/agents/broken-in-place').set(AGENT).expect(404);
  });

  it('runs no policy on a heartbeat', async () => {
    await request(t.server).post('/agents/register').set(AGENT).send(agent('beating')).expect(200);
    calls.length = 0;
    await request(t.server).post('/agents/beating/heartbeat').set(AGENT).expect(200);
    expect(calls).toEqual([]);
  });
});

/** A table made by its migration alone, as a module that reads it with raw SQL has. */
class UnseenTable extends Migration {
  up(): void {
    this.addSql('create table unseen_extension_row (id integer primary key)');
  }
}

describe.each(onEachDatabase())('an extension module imported as a Promise (%s)', (dialect) => {
  it('stops the boot, rather than run without the tables it declares', async () => {
    const migration = { name: 'Unseen20261207000000', class: UnseenTable };
    const lazy = Promise.resolve(
      DatabaseModule.forFeature({ migrations: { sqlite: [migration], postgresql: [migration] } }),
    );
    await expect(createTestApp({}, dialect, new FakeClock(), { imports: [lazy] })).rejects.toThrow(
      /DatabaseModule\.forFeature\(\) is in a module AppModule\.forRoot\(\) could not look into \(imported as a Promise\)/,
    );
  });
});

async function waitFor(done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(done()).toBe(true);
}
