import type { Principal } from './auth.guard';

/**
 * "Admin may do anything", in one place: whether `caller` may write any agent, whoever owns it, and is held to no
 * quota. An admin key may, and so may a write without a key (protected mode, auth off), which owns nothing.
 */
export function mayWriteAny(caller: Principal | undefined): caller is (Principal & { role: 'admin' }) | undefined {
  return !caller || caller.role === 'admin';
}

/**
 * Whether `caller` may overwrite, renew or delete an agent owned by `owner` (null or undefined: nobody, or a new
 * agent): any agent if mayWriteAny, else one the key owns or one nobody owns.
 */
export function mayWrite(caller: Principal | undefined, owner: string | null | undefined): boolean {
  return mayWriteAny(caller) || !owner || owner === caller.name;
}

/** Whether the caller may see who owns an agent: admin keys only. */
export function seesOwners(caller: Principal | undefined): boolean {
  return caller?.role === 'admin';
}
