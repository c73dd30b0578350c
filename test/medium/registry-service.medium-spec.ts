import { Principal } from '../../src/auth/auth.guard';
import { toAgentInfo } from '../../src/registry/persistence/agent-rows';
import { EXAMPLE_AGENT_CARD } from '../../src/registry/agent-card';
import { NO_FILTER } from '../../src/registry/discovery';
import { RegisterAgentRequest } from '../../src/registry/dto/register-agent.dto';
import { RegistryService } from '../../src/registry/registry.service';
import { onEachDatabase } from '../support/databases';
import { createTestContext, TestContext } from '../support/test-context';

/** The service's rules over a real database, without HTTP: leases, lists and their pages, cards, owners. */
describe.each(onEachDatabase())('RegistryService (%s)', (dialect) => {
  let t: TestContext;
  let registry: RegistryService;

  beforeEach(async () => {
    t = await createTestContext({}, dialect);
    registry = t.get(RegistryService);
  });

  afterEach(async () => {
    await t.close();
  });

  const request = (agentId: string, ttlSeconds = 30): RegisterAgentRequest => ({
    agent_id: agentId,
    agent_name: `Agent ${agentId}`,
    host: '10.0.0.1',
    port: 8080,
    ttl_seconds: ttlSeconds,
  });

  it('registers, renews and lets a lease run out by the clock', async () => {
    const registered = await registry.register(request('a-1'));
    expect(registered).toMatchObject({ agent_id: 'a-1', is_alive: true });

    t.clock.advance(20_000);
    await registry.heartbeat('a-1');
    t.clock.advance(20_000);
    expect(await registry.get('a-1')).toMatchObject({ is_alive: true });

    t.clock.advance(11_000);
    expect(await registry.get('a-1')).toMatchObject({ is_alive: false });
  });

  it('forgets a deregistered agent', async () => {
    await registry.register(request('a-2'));
    await registry.deregister('a-2');
    await expect(registry.get('a-2')).rejects.toMatchObject({ status: 404 });
  });

  it('lists live agents in agent_id order, dead ones with include_dead, a page at a time with a cursor', async () => {
    for (const id of ['c', 'a', 'b']) await registry.register(request(id));
    await registry.register(request('d', 5));
    t.clock.advance(6_000);
    const query = { filter: NO_FILTER, includeDead: false };
    const all = await registry.list(query);
    expect(all.agents.map((a) => a.agent_id)).toEqual(['a', 'b', 'c']);
    expect(all.revision).toBe(4);
    expect(all.position).toMatch(/^4\.[0-9a-f]{8}$/);
    expect((await registry.list({ ...query, includeDead: true })).agents.map((a) => a.is_alive)).toEqual([
      true,
      true,
      true,
      false,
    ]);
    const first = await registry.list({ ...query, limit: 2 });
    expect(first.agents.map((a) => a.agent_id)).toEqual(['a', 'b']);
    const second = await registry.list({ ...query, limit: 2, cursor: first.next });
    expect(second.agents.map((a) => a.agent_id)).toEqual(['c']);
    expect(second.next).toBeUndefined();
    await expect(registry.list({ ...query, cursor: first.next })).rejects.toMatchObject({ status: 400 });
    expect(await registry.count()).toEqual({ registered: 4, active: 3 });
  });

  it('a full list shapes each agent as asked, at one time', async () => {
    await registry.register(request('a'));
    const list = await registry.listAll({ filter: NO_FILTER, includeDead: false }, toAgentInfo);
    expect(list.agents).toEqual([expect.objectContaining({ agent_id: 'a', is_alive: true })]);
    expect(list.rest).toBeUndefined();
  });

  it('serves a card as registered, 404 for an agent without one', async () => {
    await registry.register({ ...request('carded'), agent_card: EXAMPLE_AGENT_CARD });
    expect(JSON.parse((await registry.card('carded')).json)).toEqual(EXAMPLE_AGENT_CARD);
    await registry.register(request('plain'));
    await expect(registry.card('plain')).rejects.toMatchObject({ status: 404 });
  });

  it("shows owners to admin keys only, and refuses writes on another key's agent", async () => {
    const fleet: Principal = { name: 'fleet-a', role: 'agent' };
    const other: Principal = { name: 'fleet-b', role: 'agent' };
    const admin: Principal = { name: 'ops', role: 'admin' };
    expect(await registry.register(request('owned'), fleet)).not.toHaveProperty('owner');
    expect(await registry.register(request('owned'), admin)).toMatchObject({ owner: 'fleet-a' });
    expect(await registry.get('owned', true)).toMatchObject({ owner: 'fleet-a' });
    await expect(registry.heartbeat('owned', other)).rejects.toMatchObject({ status: 403 });
    await expect(registry.deregister('owned', other)).rejects.toMatchObject({ status: 403 });
    await expect(registry.deregister('owned', fleet)).resolves.toEqual({ status: 'deleted', agent_id: 'owned' });
  });
});
