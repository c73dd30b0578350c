import { randomBytes } from 'node:crypto';
import { keysFileLine, parseKeysFile, Role, ROLES, SECRET_MIN_LENGTH } from '../../keys-file.js';
import { Command } from '../command.js';
import { EXIT, UsageError } from '../exit-codes.js';

/** Printable ASCII without spaces: a secret travels as `Authorization: Bearer <secret>`. */
const HEADER_SAFE = /^[\x21-\x7e]+$/;

export const keys: Command = {
  name: 'keys',
  usage: 'keys hash <name> <role> [secret]',
  summary: 'A keys-file line for a new API key (needs no registry)',
  description:
    `Prints the line for REGISTRY_API_KEYS_FILE: "name role sha256-of-secret". Roles: ${ROLES.join(', ')}.\n` +
    `Without a secret, generates a random one (256 bits) and prints it once on stderr: hand it to the client\n` +
    `(AGENT_REGISTRY_KEY, or the client's apiKey); the registry keeps only its hash. A secret given here must be\n` +
    `${SECRET_MIN_LENGTH} characters or more, printable ASCII without spaces; it lands in your shell history.\n` +
    'Append the line to the keys file and send the registry SIGHUP to apply it.',
  options: {},
  optionHelp: [],
  args: { min: 1, max: 4 },
  examples: [
    'agent-registry keys hash planner-fleet agent >> /etc/agent-registry/keys',
    'kill -HUP <pid of the registry>   # it reads the keys file again',
  ],
  remote: false,
  run({ args, out, err }) {
    const [subcommand, name, role, given] = args;
    if (subcommand !== 'hash')
      throw new UsageError(`Unknown keys command "${subcommand}".`, 'Run "agent-registry keys --help".');
    if (name === undefined || role === undefined) {
      throw new UsageError(
        'keys hash needs a name and a role.',
        'Usage: agent-registry keys hash <name> <role> [secret]',
      );
    }
    const secret = given ?? newSecret();
    const line = keysFileLine(name, role as Role, secret);
    const problem = keyProblem(name, role, secret, line);
    if (problem) throw new UsageError(problem, 'Run "agent-registry keys --help".');
    out(line);
    if (given === undefined) {
      err(`The secret of key "${name}" (${role}), shown only this once; give it to the client:`);
      err(secret);
    }
    return Promise.resolve(EXIT.ok);
  },
};

function keyProblem(name: string, role: string, secret: string, line: string): string | undefined {
  if (!(ROLES as readonly string[]).includes(role))
    return `The role must be one of ${ROLES.join(', ')}, not "${role}".`;
  if (secret.length < SECRET_MIN_LENGTH) return `The secret must be at least ${SECRET_MIN_LENGTH} characters.`;
  if (!HEADER_SAFE.test(secret)) return 'The secret must be printable ASCII without spaces.';
  if (/\s/.test(name)) return `The name "${name}" has a space in it.`;
  // The registry's own reading of the line, so what is printed here is what it accepts.
  const parsed = parseKeysFile(line);
  const problems = parsed.filter((entry): entry is string => typeof entry === 'string');
  // Its problems are numbered by line; this is the only line.
  return problems.length > 0
    ? `Not a valid key: ${problems.map((p) => p.replace(/^line 1: /, '')).join('; ')}`
    : undefined;
}

/**
 * 256 random bits in base64url. One in 64 of those would start with `-`, which `--key <secret>` reads as an option:
 * draw again until it does not.
 */
function newSecret(): string {
  for (;;) {
    const secret = randomBytes(32).toString('base64url');
    if (!secret.startsWith('-')) return secret;
  }
}
