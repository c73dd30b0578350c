import { parseArgs } from 'node:util';
import { RegistryClient } from '../index.js';
import { Command, Options, stringOption, Values } from './command.js';
import { commands } from './commands/index.js';
import { EXIT, failureOf, UsageError } from './exit-codes.js';
import { BIN, commandHelp, DEFAULT_URL, globalOptions, overview } from './help.js';

export interface Io {
  env: NodeJS.ProcessEnv;
  /** A line on stdout. */
  out: (text: string) => void;
  /** A line on stderr. */
  err: (text: string) => void;
}

/** Runs `agent-registry <argv>` and answers its exit status; nothing it does throws. */
export async function run(argv: string[], io: Io): Promise<number> {
  const registry = { url: io.env.AGENT_REGISTRY_URL || DEFAULT_URL, keyGiven: false };
  try {
    const { name, rest } = splitCommand(argv);
    if (name === undefined) {
      if (rest.includes('--help') || rest.includes('-h')) return help(io);
      io.err(overview(commands));
      throw new UsageError('No command given.');
    }
    if (name === 'help')
      return help(
        io,
        rest.find((arg) => !arg.startsWith('-')),
      );
    const command = commandNamed(name);
    const options = { ...globalOptions, ...command.options };
    const { values, positionals } = parse(command, rest, options);
    if (values.help === true) return help(io, command.name);
    if (positionals.length < command.args.min || positionals.length > command.args.max) {
      throw new UsageError(
        positionals.length < command.args.min
          ? `Missing argument for "${command.name}".`
          : `Unexpected argument "${positionals.at(-1)}".`,
        `Usage: ${BIN} ${command.usage} (see "${BIN} ${command.name} --help")`,
      );
    }
    registry.url = stringOption(values, 'url') || registry.url;
    const key = stringOption(values, 'key') || io.env.AGENT_REGISTRY_KEY || undefined;
    registry.keyGiven = key !== undefined;
    let client: RegistryClient | undefined;
    return await command.run({
      values,
      args: positionals,
      client: () => (client ??= new RegistryClient({ url: checkedUrl(registry.url), apiKey: key })),
      out: io.out,
      err: io.err,
    });
  } catch (error) {
    const failure = failureOf(error, registry);
    io.err(`${BIN}: ${failure.lines[0]}`);
    failure.lines.slice(1).forEach((line) => io.err(line));
    return failure.code;
  }
}

function help(io: Io, name?: string): number {
  io.out(name === undefined ? overview(commands) : commandHelp(commandNamed(name)));
  return EXIT.ok;
}

const GLOBAL_WITH_VALUE = ['--url', '--key'];

/**
 * The command's name and the rest. The name is the first argument that names a command and is not a global option's
 * value; failing that (an unknown command, reported as such), the first that follows no option, or else the first.
 * A command's own options may come before it (`--limit 5 list`): their values are not commands.
 */
function splitCommand(argv: string[]): { name?: string; rest: string[] } {
  let first: number | undefined;
  let fallback: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') break;
    if (GLOBAL_WITH_VALUE.includes(arg)) {
      i++;
    } else if (!arg.startsWith('-')) {
      if (commands.some((command) => command.name === arg) || arg === 'help') return without(argv, i);
      // After `--opt` (no `=`) it is more likely that option's value than the command.
      const afterOption = i > 0 && argv[i - 1].startsWith('-') && !argv[i - 1].includes('=');
      if (!afterOption) first ??= i;
      else fallback ??= i;
    }
  }
  const name = first ?? fallback;
  return name === undefined ? { rest: argv } : without(argv, name);
}

function without(argv: string[], i: number): { name: string; rest: string[] } {
  return { name: argv[i], rest: [...argv.slice(0, i), ...argv.slice(i + 1)] };
}

function commandNamed(name: string): Command {
  const command = commands.find((c) => c.name === name);
  if (command) return command;
  const near = closest(
    name,
    commands.map((c) => c.name),
  );
  throw new UsageError(
    `Unknown command "${name}".`,
    `${near ? `Did you mean "${near}"? ` : ''}Run "${BIN} --help" for the commands.`,
  );
}

function parse(command: Command, args: string[], options: Options): { values: Values; positionals: string[] } {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    if (!(error instanceof TypeError && String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS'))) {
      throw error;
    }
    const hint = `Run "${BIN} ${command.name} --help" for its options.`;
    const unknown = unknownOption(args, options);
    if (unknown === undefined) throw new UsageError(error.message, hint);
    const near = closest(unknown.replace(/^-+/, ''), Object.keys(options));
    throw new UsageError(
      `Unknown option ${unknown} for "${command.name}".`,
      `${near ? `Did you mean --${near}? ` : ''}${hint}`,
    );
  }
}

/** The first option on the command line that the command does not take, as written. */
function unknownOption(args: string[], options: Options): string | undefined {
  const { tokens } = parseArgs({ args, options, allowPositionals: true, strict: false, tokens: true });
  const token = tokens.find((t) => t.kind === 'option' && !Object.hasOwn(options, t.name));
  return token?.kind === 'option' ? token.rawName : undefined;
}

function checkedUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`"${url}" is not a URL.`, `Give the registry's URL, e.g. --url ${DEFAULT_URL}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UsageError(`The registry's URL must be http or https, not "${url}".`);
  }
  return url;
}

/** The candidate within two edits of `word`, for "did you mean". */
function closest(word: string, candidates: string[]): string | undefined {
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance <= 2 && (!best || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}
