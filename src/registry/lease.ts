/**
 * The lease rules, in one place. Times are epoch milliseconds.
 * An agent is alive while `now < expires_at`; cleanup removes it once `expires_at <= now`.
 */
export function leaseExpiry(heartbeatAt: number, ttlSeconds: number): number {
  return heartbeatAt + ttlSeconds * 1000;
}

export function isAlive(expiresAt: number, now: number): boolean {
  return now < expiresAt;
}

/** `leaseExpiry` as SQL over a row's own ttl, for the heartbeat's single UPDATE; bind the heartbeat time. */
export const LEASE_EXPIRY_SQL = '? + ttl_seconds * 1000';

export const DEFAULT_TTL_SECONDS = 60;
