import { Dialect } from '../database/dialect';

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

/**
 * What a heartbeat sets, as SQL over the row's own columns; bind the heartbeat time once for each. A heartbeat never
 * moves a lease backwards: not when it was stamped before waiting for another replica's batch, not when its replica's
 * clock is behind another's or was stepped back. `max` with two arguments is SQLite's `greatest`.
 */
export function leaseRenewalSql(dialect: Dialect): { lastHeartbeat: string; expiresAt: string } {
  const greatest = dialect === 'sqlite' ? 'max' : 'greatest';
  return {
    lastHeartbeat: `${greatest}(last_heartbeat, ?)`,
    expiresAt: `${greatest}(expires_at, ? + ttl_seconds * 1000)`,
  };
}

export const DEFAULT_TTL_SECONDS = 60;
