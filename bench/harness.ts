import autocannon, { Request } from 'autocannon';
import { ChildProcess, execFileSync, spawn, StdioOptions } from 'node:child_process';
import { cpus, platform, release, totalmem } from 'node:os';
import { join } from 'node:path';

/** What `npm run bench` and its scale run share: flags, processes, load, statistics. */

export const ROOT = join(__dirname, '..');
/** No scheduled cleanup during a run. */
export const NEVER = 'off';

export const args: Record<string, string | undefined> = Object.fromEntries(
  process.argv
    .slice(2)
    .map((arg) => /^--([\w-]+)(?:=(.*))?$/.exec(arg))
    .filter((match): match is RegExpExecArray => match !== null)
    .map((match) => [match[1], match[2] ?? 'true']),
);
/** The registry's entry point; `--main=<path>` runs another build (say, of the commit before a change). */
export const MAIN = args.main ?? join(ROOT, 'dist', 'src', 'main.js');
export const DURATION = Number(args.duration ?? 5);
export const ROUNDS = Number(args.rounds ?? 2);
export const CONNECTIONS = Number(args.connections ?? 50);

export interface Server {
  url: string;
  child: ChildProcess;
  /** What the process printed after it was ready: the last MiB or more of it. */
  output(): string;
}

const OUTPUT_TAIL = 1 << 20;

/** Starts a process and resolves once it prints `listening on http://…`. */
export function start(
  argv: string[],
  env: NodeJS.ProcessEnv,
  stdio: StdioOptions = ['ignore', 'pipe', 'pipe'],
): Promise<Server> {
  const child = spawn(process.execPath, argv, {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', ...env },
    stdio,
  });
  return new Promise((resolve, reject) => {
    let output = '';
    let ready = false;
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      // A server logs a line per write: keep a bounded tail, and stop searching it once ready (searching all of it on
      // every chunk took the load generator's CPU, in the same process, and lowered every figure).
      if (ready) {
        if (output.length > 2 * OUTPUT_TAIL) output = output.slice(-OUTPUT_TAIL);
        return;
      }
      const match = /listening on (http:\/\/[\d.:]+)/.exec(output);
      if (match && !ready) {
        ready = true;
        output = '';
        resolve({ url: match[1], child, output: () => output });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => ready || reject(new Error(`${argv.join(' ')} exited (${code}):\n${output}`)));
  });
}

export function stop(server: { child: ChildProcess } | undefined): Promise<void> {
  if (!server || server.child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    server.child.once('exit', () => resolve());
    server.child.kill('SIGTERM');
  });
}

export const registration = (id: string) =>
  JSON.stringify({ agent_id: id, agent_name: `Agent ${id}`, host: '10.0.0.1', port: 8080, ttl_seconds: 3600 });

/**
 * Registers agent-0 … agent-(count-1) through the API, `connections` at a time; `extra` adds fields to agent i's
 * registration.
 */
export async function preregister(
  url: string,
  count: number,
  extra?: (i: number) => object,
  connections = CONNECTIONS,
  headers: Record<string, string> = {},
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const id = `agent-${i}`;
      const res = await fetch(`${url}/agents/register`, {
        method: 'POST',
        headers: { ...headers, 'Content-Type': 'application/json' },
        body: extra ? JSON.stringify({ ...JSON.parse(registration(id)), ...extra(i) }) : registration(id),
      });
      if (res.status !== 200) throw new Error(`registering ${id}: ${res.status} ${await res.text()}`);
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
}

export interface Result {
  rps: number;
  p50: number;
  p99: number;
  failures: number;
}

/** autocannon at CONNECTIONS connections for DURATION seconds (or `duration`). */
export async function load(url: string, request: Request, duration = DURATION): Promise<Result> {
  const result = await autocannon({ url, connections: CONNECTIONS, duration, requests: [request] });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failures: result.non2xx + result.errors + result.timeouts,
  };
}

/** Heartbeats for random agents among agent-0 … agent-(agents-1). */
export const heartbeats = (agents: number): Request => ({
  method: 'POST',
  setupRequest: (req) => ({ ...req, path: `/agents/agent-${Math.floor(Math.random() * agents)}/heartbeat` }),
});

export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

export const ratio = (a: number, b: number) => (a / b).toFixed(2);

export function which(binary: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

export function machine(): string {
  return `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, ${platform()} ${release()}, Node ${process.version}`;
}

export const databaseName = (url: string) =>
  url.startsWith('sqlite:') ? 'SQLite (file, WAL, synchronous=FULL)' : 'PostgreSQL';
