import { RegistryError, unreachableReason } from '../index.js';
import { isError } from '../is-error.js';

/** The CLI's exit statuses (listed in `--help` and README): scripts branch on them. */
export const EXIT = {
  ok: 0,
  /** The registry answered with an error (an unknown agent, a refused key, a bad filter) or is not healthy. */
  failed: 1,
  /** The command line is wrong: an unknown command or option, a missing argument, a bad value. */
  usage: 2,
  /** No answer from the registry: connection refused, unknown host, timed out. */
  unreachable: 3,
} as const;

/** A mistake on the command line: its message, and where to look next. */
export class UsageError extends Error {
  override name = 'UsageError';

  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

export interface Failure {
  code: number;
  /** What stderr says: the first line is the error, the rest hints. */
  lines: string[];
}

/** What to tell the user about an error, and the exit status it means. */
export function failureOf(error: unknown, registry: { url: string; keyGiven: boolean }): Failure {
  if (error instanceof UsageError)
    return { code: EXIT.usage, lines: [error.message, ...(error.hint ? [error.hint] : [])] };
  if (error instanceof RegistryError)
    return { code: EXIT.failed, lines: [error.message, ...registryHint(error, registry)] };
  const unreachable = unreachableReason(error);
  if (unreachable !== undefined) {
    return { code: EXIT.unreachable, lines: [`Cannot reach the registry at ${shown(registry.url)}: ${unreachable}`] };
  }
  if (isError(error) && error.name === 'SyntaxError') {
    // A 2xx that is not JSON: something else answers at that URL.
    return {
      code: EXIT.failed,
      lines: [`The answer from ${shown(registry.url)} is not JSON: is it an agent registry?`],
    };
  }
  return { code: EXIT.failed, lines: [isError(error) ? error.message : String(error)] };
}

function registryHint(error: RegistryError, registry: { keyGiven: boolean }): string[] {
  if (error.status !== 401) return [];
  return registry.keyGiven
    ? ['The registry did not accept the key given by --key or AGENT_REGISTRY_KEY.']
    : ['Give a key with --key or the AGENT_REGISTRY_KEY environment variable.'];
}

/** A URL as the CLI prints it: without the password it may hold (`http://user:pass@host`). */
export function shown(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.password) return url;
    parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}
