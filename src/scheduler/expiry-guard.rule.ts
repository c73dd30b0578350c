import { UNOWNED } from './expiry-guard.repository';

/** The mass-expiry guard's rule and its wording (see ExpiryGuard). */

/**
 * How far to count a group's agents alive for `lapsed` of them lapsing: with that many or more, the lapses are not
 * more than EXPIRY_GUARD_RATIO of them (EXPIRY_GUARD_RATIO 0: every one counts).
 */
export function cap(lapsed: number, ratio: number): number | undefined {
  return ratio > 0 ? Math.floor(lapsed / ratio) + 1 : undefined;
}

export function tooMany(expired: number, alive: number, ratio: number, min: number): boolean {
  return expired >= min && expired > ratio * alive;
}

/** Why a hold ends now, or undefined while it holds. */
export function releaseReason(
  heldMs: number,
  maxMs: number,
  still: number,
  alive: number,
  ratio: number,
  min: number,
): string | undefined {
  if (heldMs >= maxMs) return `it has held for EXPIRY_GUARD_MAX_SECONDS (${maxMs / 1000} s)`;
  if (!tooMany(still, alive, ratio, min)) return `the agents came back: ${still} of ${alive} still expired`;
  return undefined;
}

export function explain(lapsed: number, alive: number, from: number, now: number, ratio: number): string {
  return (
    `${lapsed} of the ${alive} agents alive at ${new Date(from).toISOString()} expired by ` +
    `${new Date(now).toISOString()} (more than EXPIRY_GUARD_RATIO ${ratio})`
  );
}

export function groupName(grp: string): string {
  return grp === UNOWNED ? 'the agents no key owns' : `the key ${grp}`;
}

/** One group at a check: its agents alive at the last check, and those of them that lapsed since. */
export interface GroupCount {
  grp: string;
  aliveBefore: number;
  lapsed: number;
}

/** The registry without the group that lost the most: its lapses, its agents alive at the last check. */
export interface Rest {
  lapsed: number;
  alive: number;
  largest: string;
}
