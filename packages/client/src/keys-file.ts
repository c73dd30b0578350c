import { createHash } from 'node:crypto';

/**
 * `@agent-registry/client/keys-file`: the registry's API keys file (REGISTRY_API_KEYS_FILE), one key a line,
 * `name role sha256-hex-of-secret`. The registry reads it with `parseKeysFile`, and `agent-registry keys hash` writes
 * its lines with `keysFileLine` and checks them with the same reading, so what the CLI prints is what the registry
 * accepts. Node only (node:crypto): the client's main entry does not import it.
 */

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
    const problem =
      nameOrRoleProblem(name, role) ?? (SHA256_HEX.test(hex) ? undefined : 'the hash must be 64 hex digits');
    if (problem) problems.push(`${where}: ${problem}`);
    else keys.push({ name, role: role as Role, sha256: Buffer.from(hex, 'hex') });
  });
  return problems.length > 0 ? problems : keys;
}

/** What is wrong with a key's name or role, if anything. */
export function nameOrRoleProblem(name: string, role: string): string | undefined {
  if (!NAME.test(name)) return `"${name}" is not ${NAME_RULE}`;
  if (!(ROLES as readonly string[]).includes(role)) return `the role must be one of ${ROLES.join(', ')}`;
  return undefined;
}
