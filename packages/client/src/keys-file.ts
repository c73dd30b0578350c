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
  /** Agents the key may own, in place of AGENT_QUOTA (`agents=N` in the keys file; `off`: none; admin keys: ignored). */
  agentQuota?: number | 'off';
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/i;
/** The optional fourth field of a keys-file line: the key's own agent quota. */
const AGENT_QUOTA = /^agents=(off|\d{1,9})$/;
const AGENT_QUOTA_MAX = 100_000_000;
const AGENT_QUOTA_RULE = `the fourth field must be agents=N (N from 1 to ${AGENT_QUOTA_MAX}) or agents=off`;
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
 * A keys file (REGISTRY_API_KEYS_FILE): one key a line, `name role sha256-hex-of-secret`, optionally followed by
 * `agents=N` or `agents=off` (the key's own quota of agents, in place of AGENT_QUOTA); blank lines and lines
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
    // A fourth field that is no quota is more likely a name or a hash with a space in it.
    if (fields.length !== 3 && !(fields.length === 4 && fields[3].startsWith('agents='))) {
      problems.push(`${where}: expected "name role sha256-hex", got ${fields.length} field(s)`);
      return;
    }
    const [name, role, hex, quota] = fields;
    const agentQuota = quota === undefined ? undefined : agentQuotaOf(quota);
    const problem =
      nameOrRoleProblem(name, role) ??
      (SHA256_HEX.test(hex) ? undefined : 'the hash must be 64 hex digits') ??
      (agentQuota === null ? AGENT_QUOTA_RULE : undefined);
    if (problem) problems.push(`${where}: ${problem}`);
    else {
      const key: ApiKey = { name, role: role as Role, sha256: Buffer.from(hex, 'hex') };
      if (agentQuota !== undefined && agentQuota !== null) key.agentQuota = agentQuota;
      keys.push(key);
    }
  });
  return problems.length > 0 ? problems : keys;
}

/** `agents=N` or `agents=off` as a quota; null if it is neither. */
function agentQuotaOf(field: string): number | 'off' | null {
  const match = AGENT_QUOTA.exec(field);
  if (!match) return null;
  if (match[1] === 'off') return 'off';
  const count = Number(match[1]);
  return count >= 1 && count <= AGENT_QUOTA_MAX ? count : null;
}

/** What is wrong with a key's name or role, if anything. */
export function nameOrRoleProblem(name: string, role: string): string | undefined {
  if (!NAME.test(name)) return `"${name}" is not ${NAME_RULE}`;
  if (!(ROLES as readonly string[]).includes(role)) return `the role must be one of ${ROLES.join(', ')}`;
  return undefined;
}
