import { createHash, timingSafeEqual } from 'node:crypto';

/** What a key may do: `reader` reads; `agent` also registers and renews agents; `admin` does everything. */
export const ROLES = ['reader', 'agent', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** A configured API key: its name (for logs and ownership), its role, and the SHA-256 of its secret. */
export interface ApiKey {
  name: string;
  role: Role;
  sha256: Buffer;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/i;
/** Shortest secret REGISTRY_API_KEYS accepts: a guessable key is no key. */
export const SECRET_MIN_LENGTH = 16;
const NAME_RULE = 'a name of 1-64 letters, digits and . _ @ - (starting with a letter or digit)';

export function sha256(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** The keys-file line for a secret: `name role sha256-hex`. */
export function keysFileLine(name: string, role: Role, secret: string): string {
  return `${name} ${role} ${sha256(secret).toString('hex')}`;
}

/**
 * A keys file (REGISTRY_API_KEYS_FILE): one key a line, `name role sha256-hex-of-secret`; blank lines and lines
 * starting with `#` are skipped. Answers the keys, or every bad line by number (a file with one bad line is refused
 * whole: a half-read file would lock out whoever the bad line was for, or worse, the line meant to revoke).
 */
export function parseKeysFile(text: string): ApiKey[] | string[] {
  const keys: ApiKey[] = [];
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    const where = `line ${index + 1}`;
    if (fields.length !== 3) {
      problems.push(`${where}: expected "name role sha256-hex", got ${fields.length} field(s)`);
      return;
    }
    const [name, role, hex] = fields;
    const problem = keyProblem(name, role) ?? (SHA256_HEX.test(hex) ? undefined : 'the hash must be 64 hex digits');
    if (problem) problems.push(`${where}: ${problem}`);
    else keys.push({ name, role: role as Role, sha256: Buffer.from(hex, 'hex') });
  });
  return problems.length > 0 ? problems : keys;
}

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
          : (keyProblem(name, role) ??
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

function keyProblem(name: string, role: string): string | undefined {
  if (!NAME.test(name)) return `"${name}" is not ${NAME_RULE}`;
  if (!(ROLES as readonly string[]).includes(role)) return `the role must be one of ${ROLES.join(', ')}`;
  return undefined;
}

/**
 * The key whose secret this is, or undefined. Compares the secret's hash with every key's in constant time, and
 * always with every key, so the time taken says nothing about which keys exist or how close a guess came.
 */
export function findKey(keys: readonly ApiKey[], secret: string): ApiKey | undefined {
  const presented = sha256(secret);
  let found: ApiKey | undefined;
  for (const key of keys) {
    if (timingSafeEqual(presented, key.sha256) && !found) found = key;
  }
  return found;
}
