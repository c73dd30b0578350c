import { Principal } from '../../src/auth/auth.guard';
import { RegistryWriter } from '../../src/registry/persistence/registry-writer';
import { onEachDatabase } from '../support/databases';
import { registration } from '../support/test-app';
import { createTestContext, TestContext } from '../support/test-context';

const KEYS =
  'fleet-a:agent:fleet-a-secret-0123456789,fleet-b:agent:fleet-b-secret-0123456789,ops:admin:ops-secret-0123456789';
const FLEET_A: Principal = { name: 'fleet-a', role: 'agent' };
const FLEET_B: Principal = { name: 'fleet-b', role: 'agent' };
const OPS: Principal = { name: 'ops', role: 'admin' };

/** Each write's outcome: 'ok', or the HTTP status it was refused with. */
const settle = (promises: Promise<unknown>[]) =>
  Promise.allSettled(promises).then((results) =>
    results.map((result) => (result.status === 'fulfilled' ? 'ok' : (result.reason as { status?: number }).status)),
  );

/** The group-commit writer over a real database, without HTTP: batches, ownership and quotas. */
describe.each(onEachDatabase())('RegistryWriter (%s)', (dialect) => {
  let t: TestContext;
  let writer: RegistryWriter;

  beforeEach(async () => {
    t = await createTestContext({ REGISTRY_API_KEYS: KEYS, AGENT_QUOTA: '2' }, dialect);
    writer = t.get(RegistryWriter);
  });

  afterEach(async () => {
    await t.close();
  });

  it('writes that arrive together share one batch and keep their order, a 404 for exactly the write that missed', async () => {
    const outcomes = await settle([
      writer.register(registration('a')),
      writer.heartbeat('a'),
      writer.heartbeat('ghost'),
      writer.deregister('a'),
      writer.heartbeat('a'),
      writer.register(registration('b')),
      writer.register(registration('b', 9090)),
      writer.deregister('ghost'),
    ]);
    expect(outcomes).toEqual(['ok', 'ok', 404, 'ok', 404, 'ok', 'ok', 404]);
    expect(writer.backlog).toEqual({ queued: 0, inFlight: 0 });
  });

  it('stamps the lease when the batch commits, and a heartbeat never moves it backwards', async () => {
    const stored = await writer.register(registration('a'));
    expect(stored.expiresAt).toBe(t.clock.now().getTime() + 60_000);
    t.clock.advance(5_000);
    const renewed = await writer.heartbeat('a');
    expect(renewed).toEqual({ lastHeartbeat: t.clock.now().getTime(), expiresAt: t.clock.now().getTime() + 60_000 });
    t.clock.advance(-10_000);
    expect(await writer.heartbeat('a')).toEqual(renewed);
  });

  it("refuses writes on another key's agent with 403, in the same batch as the owner's; admin keys write any", async () => {
    await writer.register(registration('a'), FLEET_A);
    const outcomes = await settle([
      writer.register(registration('a', 9090), FLEET_B),
      writer.heartbeat('a', FLEET_B),
      writer.deregister('a', FLEET_B),
      writer.heartbeat('a', FLEET_A),
      writer.heartbeat('a', OPS),
      writer.heartbeat('a'),
    ]);
    expect(outcomes).toEqual([403, 403, 403, 'ok', 'ok', 'ok']);
    const kept = await writer.register(registration('a', 7070), OPS);
    expect(kept).toMatchObject({ owner: 'fleet-a', port: 7070 });
    await writer.deregister('a', OPS);
  });

  it('a key at its quota gets 429 for a new agent, never for its own; a deregistration frees a place', async () => {
    const outcomes = await settle([
      writer.register(registration('a-1'), FLEET_A),
      writer.register(registration('a-2'), FLEET_A),
      writer.register(registration('a-3'), FLEET_A),
      writer.register(registration('b-1'), FLEET_B),
      writer.register(registration('o-1'), OPS),
      writer.register(registration('o-2'), OPS),
      writer.register(registration('o-3'), OPS),
    ]);
    expect(outcomes).toEqual(['ok', 'ok', 429, 'ok', 'ok', 'ok', 'ok']);
    await expect(writer.register(registration('a-1', 9090), FLEET_A)).resolves.toMatchObject({ port: 9090 });
    await expect(writer.register(registration('a-3'), FLEET_A)).rejects.toMatchObject({ status: 429 });
    await writer.deregister('a-2', FLEET_A);
    await expect(writer.register(registration('a-3'), FLEET_A)).resolves.toMatchObject({ owner: 'fleet-a' });
  });
});
