import { isAlive, leaseExpiry } from './lease';

describe('lease rules', () => {
  const t0 = Date.parse('2026-11-27T09:00:00.000Z');

  it('a lease runs ttl_seconds from the last heartbeat', () => {
    expect(leaseExpiry(t0, 60)).toBe(t0 + 60_000);
    expect(leaseExpiry(t0, 1)).toBe(t0 + 1_000);
    expect(leaseExpiry(t0, 3600)).toBe(t0 + 3_600_000);
  });

  it('an agent is alive strictly before expires_at', () => {
    const expiresAt = leaseExpiry(t0, 60);
    expect(isAlive(expiresAt, t0)).toBe(true);
    expect(isAlive(expiresAt, expiresAt - 1)).toBe(true);
    expect(isAlive(expiresAt, expiresAt)).toBe(false);
    expect(isAlive(expiresAt, expiresAt + 1)).toBe(false);
  });
});
