import { hash, timingSafeEqual } from 'node:crypto';
import { ApiKey, nameOrRoleProblem, Role, SECRET_MIN_LENGTH, sha256 } from '@agent-registry/client/keys-file';

// The keys file's format lives with `agent-registry keys hash` in the client package, which writes its lines: one
// reading for the registry and the CLI.
export { keysFileLine, parseKeysFile, ROLES, SECRET_MIN_LENGTH, sha256 } from '@agent-registry/client/keys-file';
export type { ApiKey, Role } from '@agent-registry/client/keys-file';

/**
 * REGISTRY_API_KEYS, for development: `name:role:secret` entries separated by commas. The secrets are hashed here and
 * kept only as hashes.
 */
export function parseKeysVariable(value: string): ApiKey[] | string[] {
  const keys: ApiKey[] = [];
  const problems: string[] = [];
  value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .forEach((entry, index) => {
      const [name, role, ...rest] = entry.split(':');
      const secret = rest.join(':');
      const where = `entry ${index + 1}`;
      const problem =
        rest.length === 0
          ? 'expected "name:role:secret"'
          : (nameOrRoleProblem(name, role) ??
            (secret.length >= SECRET_MIN_LENGTH
              ? undefined
              : `the secret must be at least ${SECRET_MIN_LENGTH} characters`));
      if (problem) problems.push(`${where}: ${problem}`);
      else keys.push({ name, role: role as Role, sha256: sha256(secret) });
    });
  return problems.length > 0 ? problems : keys;
}

/** Problems a set of keys has as a whole: a name or a secret used twice. */
export function keySetProblems(keys: ApiKey[]): string[] {
  const problems: string[] = [];
  const names = new Set<string>();
  const hashes = new Set<string>();
  for (const key of keys) {
    if (names.has(key.name)) problems.push(`the key name "${key.name}" is used twice`);
    const hex = key.sha256.toString('hex');
    if (hashes.has(hex)) problems.push(`the key "${key.name}" has the same secret as another key`);
    names.add(key.name);
    hashes.add(hex);
  }
  return problems;
}

/**
 * The key whose secret this is, or undefined. Compares the secret's hash with every key's in constant time, and
 * always with every key, so the time taken says nothing about which keys exist or how close a guess came.
 */
export function findKey(keys: readonly ApiKey[], secret: string): ApiKey | undefined {
  // The one-shot hash: createHash's object per request cost 1.5 % of the registry's CPU under heartbeats.
  const presented = hash('sha256', secret, 'buffer');
  let found: ApiKey | undefined;
  for (const key of keys) {
    if (timingSafeEqual(presented, key.sha256) && !found) found = key;
  }
  return found;
}
