import { IsIn, IsOptional, IsString, Matches } from 'class-validator';
import { readFileSync } from 'node:fs';
import { ConfigSection, Problems } from '../config/environment';
import { parseRate, RATE, RATE_RULE } from '../config/parsers';
import { ApiKey, keySetProblems, parseKeysFile, parseKeysVariable } from './api-keys';
import type { RateLimit } from './fixed-windows';

/**
 * Who may call the registry: `keys` (an API key on every request but the open ones), `protected` (no keys are
 * configured: loopback clients only) or `off` (REGISTRY_AUTH=off: everyone, openly).
 */
export interface AuthConfig {
  mode: 'keys' | 'protected' | 'off';
  keys: ApiKey[];
  /** REGISTRY_API_KEYS_FILE, read again on SIGHUP (KeysFileReload). */
  keysFile?: string;
  /** Served to everyone whatever the mode; the others need the `reader` role (or loopback, in protected mode). */
  openRoutes: OpenRoute[];
  /** Failed authentications per client address per window (AuthFailures); undefined: unlimited. */
  failureLimit?: RateLimit;
}

/** Routes that may be opened to callers without a key (REGISTRY_OPEN_ROUTES): health probes, API docs, /metrics. */
export const OPEN_ROUTES = ['probes', 'docs', 'metrics'] as const;
/** Open unless REGISTRY_OPEN_ROUTES says otherwise. */
const OPEN_BY_DEFAULT: OpenRoute[] = ['probes', 'docs'];
export type OpenRoute = (typeof OPEN_ROUTES)[number];

export interface AuthSection {
  auth: AuthConfig;
  /** Requests per key (per client address without keys) per window; undefined: unlimited. */
  rateLimit?: RateLimit;
  /** Heartbeats per agent per window; undefined: unlimited. */
  heartbeatLimit?: RateLimit;
}

class AuthVariables {
  @IsIn(['on', 'off'], { message: 'must be on or off' })
  REGISTRY_AUTH: string = 'on';

  @Matches(RATE, { message: RATE_RULE })
  RATE_LIMIT: string = '10000/1s';

  @Matches(RATE, { message: RATE_RULE })
  HEARTBEAT_LIMIT: string = '50/10s';

  /** Failed authentications (401s) per client address; past it, 429 until the window ends. */
  @Matches(RATE, { message: RATE_RULE })
  AUTH_FAILURE_LIMIT: string = '20/1m';

  @IsOptional()
  @IsString()
  REGISTRY_API_KEYS_FILE: string | undefined = undefined;

  /** For development: the secrets are in the environment. */
  @IsOptional()
  @IsString()
  REGISTRY_API_KEYS: string | undefined = undefined;

  /** Comma-separated, from OPEN_ROUTES, or `none`. */
  @Matches(new RegExp(`^\\s*(none|(${OPEN_ROUTES.join('|')})(\\s*,\\s*(${OPEN_ROUTES.join('|')}))*)\\s*$`, 'i'), {
    message: `must be none, or a comma-separated list of ${OPEN_ROUTES.join(', ')}`,
  })
  REGISTRY_OPEN_ROUTES: string = OPEN_BY_DEFAULT.join(',');
}

export const authSection: ConfigSection<AuthVariables, AuthSection> = {
  variables: AuthVariables,
  slice(vars: AuthVariables, problems: Problems): AuthSection {
    const auth = authConfigOf(vars, problems);
    const rates = {
      RATE_LIMIT: vars.RATE_LIMIT,
      HEARTBEAT_LIMIT: vars.HEARTBEAT_LIMIT,
      AUTH_FAILURE_LIMIT: vars.AUTH_FAILURE_LIMIT,
    };
    for (const [variable, value] of Object.entries(rates)) {
      const rate = rateOf(value);
      if (rate && (rate.limit < 1 || rate.windowMs < 100 || rate.windowMs > 3_600_000)) {
        problems.add(
          variable,
          `${variable}=${JSON.stringify(value)} must allow at least 1 request in a window of 100ms to 1h`,
        );
      }
    }
    return { auth, rateLimit: rateOf(vars.RATE_LIMIT), heartbeatLimit: rateOf(vars.HEARTBEAT_LIMIT) };
  },
};

/** A rate variable's limit, once it is well-formed (a malformed one is a problem already). */
function rateOf(value: string): RateLimit | undefined {
  return RATE.test(value) ? parseRate(value) : undefined;
}

/** The keys from REGISTRY_API_KEYS_FILE and REGISTRY_API_KEYS (both may be given), and the mode they make. */
function authConfigOf(vars: AuthVariables, problems: Problems): AuthConfig {
  const keys: ApiKey[] = [];
  const add = (variable: string, key: string, parsed: ApiKey[] | string[]) => {
    if (parsed.every((item): item is ApiKey => typeof item !== 'string')) keys.push(...parsed);
    else for (const problem of parsed) problems.add(key, `${variable}: ${problem}`);
  };
  if (vars.REGISTRY_API_KEYS_FILE !== undefined) {
    let text: string | undefined;
    try {
      text = readFileSync(vars.REGISTRY_API_KEYS_FILE, 'utf8');
    } catch (error) {
      problems.add(
        'REGISTRY_API_KEYS_FILE',
        `REGISTRY_API_KEYS_FILE=${JSON.stringify(vars.REGISTRY_API_KEYS_FILE)} cannot be read: ${(error as Error).message}`,
      );
    }
    if (text !== undefined) {
      add(`REGISTRY_API_KEYS_FILE ${vars.REGISTRY_API_KEYS_FILE}`, 'REGISTRY_API_KEYS_FILE', parseKeysFile(text));
    }
  }
  // The secrets in this variable are not repeated in the messages.
  if (vars.REGISTRY_API_KEYS !== undefined) {
    add('REGISTRY_API_KEYS', 'REGISTRY_API_KEYS', parseKeysVariable(vars.REGISTRY_API_KEYS));
  }
  for (const problem of keySetProblems(keys)) problems.add('REGISTRY_API_KEYS', `API keys: ${problem}`);
  if (vars.REGISTRY_AUTH === 'off' && keys.length > 0) {
    problems.add(
      'REGISTRY_AUTH',
      'REGISTRY_AUTH=off serves everyone without a key: remove the keys, or REGISTRY_AUTH=off',
    );
  }
  const mode = vars.REGISTRY_AUTH === 'off' ? 'off' : keys.length > 0 ? 'keys' : 'protected';
  const listed = vars.REGISTRY_OPEN_ROUTES.toLowerCase().split(',');
  const openRoutes = OPEN_ROUTES.filter((route) => listed.some((item) => item.trim() === route));
  const failureLimit = rateOf(vars.AUTH_FAILURE_LIMIT);
  return { mode, keys, keysFile: vars.REGISTRY_API_KEYS_FILE, openRoutes, failureLimit };
}
