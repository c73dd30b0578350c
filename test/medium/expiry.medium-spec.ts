import { Logger } from '@nestjs/common';
import { Principal } from '../../src/auth/auth.guard';
import { RegisterAgentRequest } from '../../src/registry/dto/register-agent.dto';
import { RegistryService } from '../../src/registry/registry.service';
import { ExpiredAgents } from '../../src/scheduler/expired-agents';
import { ExpiryGuard } from '../../src/scheduler/expiry-guard';
import { LeaseGrace } from '../../src/scheduler/lease-grace';
import { onEachDatabase } from '../support/databases';
import { createTestContext, TestContext } from '../support/test-context';

/** Expiry's pieces over a real database, without HTTP, driven by the fake clock: removal, guard, restart grace. */
describe.each(onEachDatabase())('Expiry (%s)', (dialect) => {
  let t: TestContext | undefined;

  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  const request = (agentId: string, ttlSeconds: number): RegisterAgentRequest => ({
    agent_id: agentId,
    agent_name: `Agent ${agentId}`,
    host: '10.0.0.1',
    port: 8080,
    ttl_seconds: ttlSeconds,
  });
  const register = async (ids: string[], ttlSeconds: number, caller?: Principal) => {
    for (const id of ids) await t!.get(RegistryService).register(request(id, ttlSeconds), caller);
  };
  const named = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  const isAlive = async (id: string) => (await t!.get(RegistryService).get(id)).is_alive;

  it('removes the agents whose leases ran out, and keeps the live ones and those of held keys', async () => {
    t = await createTestContext({ REGISTRY_API_KEYS: 'fleet:agent:fleet-secret-0123456789' }, dialect);
    await register(['gone-1', 'gone-2'], 10);
    await register(['fleet-1'], 10, { name: 'fleet', role: 'agent' });
    await register(['steady'], 300);
    t.clock.advance(20_000);

    const removed = await t.get(ExpiredAgents).remove({ owners: ['fleet'], unowned: false });

    expect(removed.sort()).toEqual(['gone-1', 'gone-2']);
    await expect(t.get(RegistryService).get('gone-1')).rejects.toMatchObject({ status: 404 });
    expect(await isAlive('fleet-1')).toBe(false);
    expect(await isAlive('steady')).toBe(true);
    expect(await t.get(ExpiredAgents).remove()).toEqual(['fleet-1']);
  });

  it('holds the agents of a mass expiry, and lets the cleanup remove them once an admin releases the guard', async () => {
    t = await createTestContext({ EXPIRY_GUARD_RATIO: '0.5', EXPIRY_GUARD_MIN: '5' }, dialect);
    const guard = t.get(ExpiryGuard);
    const expired = t.get(ExpiredAgents);
    await register(named('lost', 10), 10);
    await register(['steady'], 300);
    expect(await guard.check()).toMatchObject({ everything: false, owners: [], unowned: false });

    t.clock.advance(20_000);
    const error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const holds = await guard.check();
    expect(error).toHaveBeenCalledWith(expect.stringMatching(/^Mass-expiry guard engaged: 10 of the 11 agents alive/));
    error.mockRestore();
    expect(holds).toMatchObject({ at: t.clock.now().getTime(), everything: false, owners: [], unowned: true });
    expect(await expired.remove(holds, holds.at)).toEqual([]);
    expect(await guard.state()).toMatchObject({ engaged: true, unowned: true, everything: false });

    expect(await guard.releaseNow('admin')).toEqual({ engaged: false });
    const released = await guard.check();
    expect(released).toMatchObject({ everything: false, owners: [], unowned: false });
    expect((await expired.remove(released, released.at)).sort()).toEqual(named('lost', 10).sort());
    expect(await isAlive('steady')).toBe(true);
  });

  it('restart grace extends the leases that ran out while no replica served, and only those', async () => {
    t = await createTestContext({ RESTART_GRACE_AFTER: '15s' }, dialect);
    const start = t.clock.now().getTime();
    await register(['before-gap'], 5);
    await register(['in-gap'], 20);
    // No replica served from start + 10 s: the watermark stays there while the clock moves on 30 s past it.
    await t.orm.em
      .fork()
      .getConnection()
      .execute('update registry_watermark set seen_at = ? where id = 1', [start + 10_000], 'run');
    t.clock.advance(40_000);

    await t.get(LeaseGrace).observe();

    expect(await isAlive('in-gap')).toBe(true);
    expect((await t.get(RegistryService).get('in-gap')).expires_at).toBe(new Date(start + 60_000).toISOString());
    expect(await isAlive('before-gap')).toBe(false);
  });
});
