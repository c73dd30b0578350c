import type { ParseArgsConfig } from 'node:util';
import type { RegistryClient } from '../index.js';
import { UsageError } from './exit-codes.js';

/** Options as `parseArgs` takes them. */
export type Options = NonNullable<ParseArgsConfig['options']>;

/** Parsed options, as `parseArgs` answers them for a config built at run time. */
export type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface CommandContext {
  /** The command's options and the global ones. */
  values: Values;
  /** The arguments after the command's name. */
  args: string[];
  /** A client for --url / AGENT_REGISTRY_URL, with --key / AGENT_REGISTRY_KEY. */
  client: () => RegistryClient;
  /** A line on stdout. */
  out: (text: string) => void;
  /** A line on stderr. */
  err: (text: string) => void;
}

/** One `agent-registry <command>`: its help, its options, and what it does. */
export interface Command {
  name: string;
  /** `get <id>`: the usage line after `agent-registry`. */
  usage: string;
  /** One line in the overview. */
  summary: string;
  /** What the command's --help says after the usage line. */
  description: string;
  options: Options;
  /** The options' lines in --help: `['--limit <n>', 'One page of n agents (1-1000)']`. */
  optionHelp: [string, string][];
  /** How many arguments it takes. */
  args: { min: number; max: number };
  examples: string[];
  /** Whether it talks to a registry, and so takes --url and --key. */
  remote: boolean;
  run: (context: CommandContext) => Promise<number>;
}

export function stringOption(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

export function listOption(values: Values, name: string): string[] {
  const value = values[name];
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

/** A whole number option within its range, or a usage error naming it (so a bad value is never sent). */
export function integerOption(values: Values, name: string, range: { min: number; max: number }): number | undefined {
  const value = stringOption(values, name);
  if (value === undefined) return undefined;
  const number = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(number >= range.min && number <= range.max)) {
    throw new UsageError(`--${name} must be a whole number from ${range.min} to ${range.max}, not "${value}".`);
  }
  return number;
}

/** JSON as the CLI prints it for a reader: two-space indents. */
export function prettyJson(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
