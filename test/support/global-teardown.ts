import { PG_AVAILABLE, PG_RUN_PREFIX } from './pg-test-env';
import { pgAdminQuery } from './global-setup';

/** How long after the run the process may take to exit before what keeps it alive is named. */
const LINGER_MS = 5000;

/** Drops any database this run created and a failed test left behind; names what keeps jest alive after the run. */
export default function globalTeardown(): void {
  nameWhatLingers();
  const prefix = process.env[PG_RUN_PREFIX];
  if (process.env[PG_AVAILABLE] !== '1' || !prefix || !/^\w+$/.test(prefix)) return;
  const rows = pgAdminQuery(`select datname from pg_database where starts_with(datname, '${prefix}')`);
  for (const { datname } of rows) pgAdminQuery(`drop database if exists "${String(datname)}" with (force)`);
}

/**
 * On two cores jest runs the suites in its own process (one worker), so a socket, server, child or timer that a suite
 * left open keeps jest from exiting after the summary. If the process is still alive a few seconds after the run, this
 * says what holds it, so the suite that leaked it can be found; the timer itself holds nothing. (With more workers,
 * a leak keeps a worker alive instead, and jest says so itself.)
 */
function nameWhatLingers(): void {
  setTimeout(() => {
    try {
      report();
    } catch (error) {
      process.stderr.write(`could not name what keeps jest alive: ${String(error)}\n`);
    }
  }, LINGER_MS).unref();
}

function report(): void {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  const named = handles.map(describeHandle).filter((name): name is string => name !== undefined);
  // Timers are no handles: only their number is known.
  const timers = process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
  if (timers > 0) named.push(`${timers} timer(s)`);
  if (named.length === 0) return;
  process.stderr.write(
    `jest is still running ${LINGER_MS / 1000} s after the run; held by:\n  ${named.join('\n  ')}\n`,
  );
}

function describeHandle(handle: unknown): string | undefined {
  const h = handle as Record<string, unknown> & { constructor: { name: string } };
  const kind = h.constructor.name;
  // The standard streams (compared by descriptor: reading process.stdin would open it).
  const fd = (handle as { fd?: number }).fd ?? (handle as { _handle?: { fd?: number } })._handle?.fd;
  if (fd !== undefined && fd >= 0 && fd <= 2) return undefined;
  if (kind === 'Socket' || kind === 'TLSSocket') {
    const s = handle as { localPort?: number; remoteAddress?: string; remotePort?: number; readyState?: string };
    return `${kind} :${s.localPort} -> ${s.remoteAddress}:${s.remotePort} (${s.readyState})`;
  }
  if (kind === 'Server') return `Server listening on ${JSON.stringify((handle as { address(): unknown }).address())}`;
  if (kind === 'ChildProcess') {
    const c = handle as { pid?: number; spawnargs?: string[] };
    return `ChildProcess ${c.pid}: ${(c.spawnargs ?? []).join(' ').slice(0, 200)}`;
  }
  return kind;
}
