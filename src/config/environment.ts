import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';

/** A bad configuration: the message names every variable at fault, so the process stops before it serves anything. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * The configuration validated at boot (AppConfig, composed in src/app.config.ts), injectable everywhere. A feature
 * types what it injects with its own section's slice.
 */
export const APP_CONFIG = Symbol('APP_CONFIG');

/**
 * One feature's section of the configuration: the environment variables it reads and the slice of AppConfig it
 * makes of them.
 */
export interface ConfigSection<Variables extends object, Slice> {
  /**
   * A class-validator class, one property per variable, whose initialisers are the defaults (every property has one,
   * `undefined` included: its keys are the variables read). A malformed value is a problem naming the variable.
   */
  readonly variables: new () => Variables;
  /**
   * The slice, from the variables as read: a value that is well-formed but refused (out of range, in conflict with
   * another) is a problem. Runs even when some variable is malformed, so one boot names every problem.
   */
  slice(vars: Variables, problems: Problems): Slice;
}

/** Problems found so far, each filed under a key that places it in a ConfigError's list (see ProblemOrder). */
export class Problems {
  readonly found: { key: string; message: string }[] = [];

  /** `key` is the variable the problem concerns; `message` says everything, the variable's name first. */
  add(key: string, message: string): void {
    this.found.push({ key, message });
  }
}

/**
 * The order a ConfigError lists its problems in: first the malformed values, by variable, then the refused ones, by
 * key. Keys not listed come last; problems under one key keep the order they were found in.
 */
export interface ProblemOrder {
  malformed: readonly string[];
  refused: readonly string[];
}

type Slices<Sections> = {
  [Name in keyof Sections]: Sections[Name] extends ConfigSection<object, infer Slice> ? Slice : never;
};

/**
 * Reads the sections' variables from `env` (unset or empty ones take their defaults) and makes their slices; throws
 * one ConfigError naming every problem of every section.
 */
export function readSections<Sections extends Record<string, ConfigSection<object, unknown>>>(
  env: NodeJS.ProcessEnv,
  sections: Sections,
  order: ProblemOrder = { malformed: [], refused: [] },
): Slices<Sections> {
  const malformed = new Problems();
  const refused = new Problems();
  const read = Object.entries(sections).map(
    ([name, section]) => [name, section, readVariables(section.variables, env, malformed)] as const,
  );
  const slices = Object.fromEntries(read.map(([name, section, vars]) => [name, section.slice(vars, refused)]));
  const problems = [...ordered(malformed, order.malformed), ...ordered(refused, order.refused)];
  if (problems.length > 0) {
    throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  return slices as Slices<Sections>;
}

function readVariables<Variables extends object>(
  variables: new () => Variables,
  env: NodeJS.ProcessEnv,
  problems: Problems,
): Variables {
  const given = Object.fromEntries(
    Object.keys(new variables())
      .filter((key) => env[key] !== undefined && env[key]?.trim() !== '')
      .map((key) => [key, env[key]]),
  );
  const vars = plainToInstance(variables, given);
  for (const error of validateSync(vars)) {
    problems.add(
      error.property,
      `${error.property}=${JSON.stringify(given[error.property])} ${Object.values(error.constraints ?? {})[0]}`,
    );
  }
  return vars;
}

function ordered(problems: Problems, keys: readonly string[]): string[] {
  const rank = (key: string) => (keys.includes(key) ? keys.indexOf(key) : keys.length);
  return [...problems.found].sort((a, b) => rank(a.key) - rank(b.key)).map(({ message }) => message);
}
