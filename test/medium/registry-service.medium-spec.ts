import { RegisterAgentRequest } from '../../src/registry/dto/register-agent.dto';
import { RegistryService } from '../../src/registry/registry.service';
import { onEachDatabase } from '../support/databases';
import { createTestContext, TestContext } from '../support/test-context';

/** The service's lease rules over a real database, without HTTP. */
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
});
