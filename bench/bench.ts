import autocannon, { Request } from 'autocannon';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, platform, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { maskPassword } from '../src/config/database-config';

/**
 * `npm run bench`: the registry's hot paths against the framework ceiling (and etcd's lease keep-alive when an
 * etcd binary is installed), measured in one run in alternating rounds, so the ratios hold on a shared, noisy
 * machine even when the absolute numbers do not. Prints a table and writes it to docs/benchmarks.md.
 *
 *   npm run bench -- [--duration=5] [--rounds=2] [--connections=50] [--agents=10000] [--database=<DATABASE_URL>]
 */

const ROOT = join(__dirname, '..');
const args = Object.fromEntries(
  process.argv
    .slice(2)
    .map((arg) => /^--([\w-]+)=(.*)$/.exec(arg))
    .filter((match): match is RegExpExecArray => match !== null)
    .map((match) => [match[1], match[2]]),
);
const DURATION = Number(args.duration ?? 5);
const ROUNDS = Number(args.rounds ?? 2);
const CONNECTIONS = Number(args.connections ?? 50);
const AGENTS = Number(args.agents ?? 10_000);
const NEVER = '0 0 0 1 1 *';

interface Server {
  url: string;
  child: ChildProcess;
}

interface Measure {
  name: string;
  rps: number[];
  p50: number[];
  p99: number[];
  failures: number;
}

/** Starts a process and resolves once it prints `listening on http://…` (or `pattern`). */
function start(
  command: string,
  argv: string[],
  env: NodeJS.ProcessEnv,
  pattern = /listening on (http:\/\/[\d.:]+)/,
): Promise<Server> {
  const child = spawn(command, argv, {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = pattern.exec(output);
      if (match) {
        child.stdout?.off('data', onData);
        child.stderr?.off('data', onData);
        child.stdout?.resume();
        child.stderr?.resume();
        resolve({ url: match[1], child });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${command} exited (${code}) before it was ready:\n${output}`)));
  });
}

function stop(server: Server | undefined): Promise<void> {
  if (!server || server.child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    server.child.once('exit', () => resolve());
    server.child.kill('SIGTERM');
  });
}

const randomAgent = () => `agent-${Math.floor(Math.random() * AGENTS)}`;
const registration = (id: string) =>
  JSON.stringify({ agent_id: id, agent_name: `Agent ${id}`, host: '10.0.0.1', port: 8080, ttl_seconds: 3600 });

async function preregister(url: string): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < AGENTS) {
      const id = `agent-${next++}`;
      const res = await fetch(`${url}/agents/register`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: registration(id),
      });
      if (res.status !== 200) throw new Error(`registering ${id}: ${res.status} ${await res.text()}`);
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
}

async function load(
  url: string,
  request: Request,
): Promise<{ rps: number; p50: number; p99: number; failures: number }> {
  const result = await autocannon({ url, connections: CONNECTIONS, duration: DURATION, requests: [request] });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failures: result.non2xx + result.errors + result.timeouts,
  };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

function which(binary: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** etcd on a temp data dir, with a lease to keep alive through its HTTP (grpc-gateway) API. */
async function startEtcd(dir: string): Promise<{ server: Server; leaseId: string } | undefined> {
  const etcd = which('etcd');
  if (!etcd) {
    console.log('etcd: not installed, skipping the etcd comparison (Debian: apt-get install etcd-server).');
    return undefined;
  }
  const client = 23790 + Math.floor(Math.random() * 1000);
  const url = `http://127.0.0.1:${client}`;
  const child = spawn(
    etcd,
    [
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${url}`,
      `--advertise-client-urls=${url}`,
      `--listen-peer-urls=http://127.0.0.1:${client + 1000}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${client + 1000}`,
      `--initial-cluster=default=http://127.0.0.1:${client + 1000}`,
      '--log-level=error',
    ],
    { stdio: 'ignore' },
  );
  const server = { url, child };
  let healthy = false;
  for (let tries = 0; tries < 100 && !healthy; tries++) {
    healthy = (await fetch(`${url}/health`).catch(() => undefined))?.ok === true;
    if (!healthy) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (!healthy) {
    await stop(server);
    throw new Error(`etcd did not become healthy at ${url}`);
  }
  const grant = await fetch(`${server.url}/v3/lease/grant`, { method: 'POST', body: JSON.stringify({ TTL: 3600 }) });
  const { ID } = (await grant.json()) as { ID: string };
  return { server, leaseId: ID };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'agent-registry-bench-'));
  const database = (args.database as string | undefined) ?? `sqlite:${join(dir, 'registry.sqlite')}`;
  // LOG_LEVEL=log: the line that says where the server listens is logged at that level.
  const env = { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'log', CLEANUP_CRON: NEVER, DATABASE_URL: database };
  let registry: Server | undefined;
  let ceiling: Server | undefined;
  let etcd: Awaited<ReturnType<typeof startEtcd>>;
  try {
    registry = await start(process.execPath, [join(ROOT, 'dist', 'src', 'main.js')], env);
    ceiling = await start(
      process.execPath,
      ['-r', 'ts-node/register/transpile-only', join(ROOT, 'bench', 'ceiling.ts')],
      env,
    );
    etcd = await startEtcd(dir);
    console.log(`Registering ${AGENTS} agents on ${maskPassword(database)} …`);
    await preregister(registry.url);

    const scenarios: { name: string; url: string; request: Request }[] = [
      {
        name: 'ceiling (no-op NestJS route)',
        url: ceiling.url,
        request: { method: 'POST', setupRequest: (req) => ({ ...req, path: `/agents/${randomAgent()}/heartbeat` }) },
      },
      {
        name: 'heartbeat',
        url: registry.url,
        request: { method: 'POST', setupRequest: (req) => ({ ...req, path: `/agents/${randomAgent()}/heartbeat` }) },
      },
      {
        name: 'registration',
        url: registry.url,
        request: {
          method: 'POST',
          path: '/agents/register',
          headers: { 'content-type': 'application/json' },
          setupRequest: (req) => ({ ...req, body: registration(randomAgent()) }),
        },
      },
      {
        name: 'GET /agents/{id}',
        url: registry.url,
        request: { method: 'GET', setupRequest: (req) => ({ ...req, path: `/agents/${randomAgent()}` }) },
      },
    ];
    if (etcd) {
      const body = JSON.stringify({ ID: etcd.leaseId });
      scenarios.push({
        name: 'etcd lease keep-alive (HTTP gateway)',
        url: etcd.server.url,
        request: { method: 'POST', path: '/v3/lease/keepalive', body },
      });
    }

    const measures: Measure[] = scenarios.map(({ name }) => ({ name, rps: [], p50: [], p99: [], failures: 0 }));
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [i, scenario] of scenarios.entries()) {
        process.stdout.write(`round ${round}/${ROUNDS}: ${scenario.name} … `);
        const result = await load(scenario.url, scenario.request);
        console.log(`${Math.round(result.rps)} req/s`);
        measures[i].rps.push(result.rps);
        measures[i].p50.push(result.p50);
        measures[i].p99.push(result.p99);
        measures[i].failures += result.failures;
      }
    }
    report(measures, database.startsWith('sqlite:') ? 'SQLite (file, WAL, synchronous=FULL)' : 'PostgreSQL');
  } finally {
    await Promise.all([stop(registry), stop(ceiling), stop(etcd?.server)]);
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(measures: Measure[], database: string): void {
  const figure = (name: string) => measures.find((m) => m.name.startsWith(name));
  const rows = measures.map((m) => ({
    name: m.name,
    rps: median(m.rps),
    p50: median(m.p50),
    p99: median(m.p99),
    failures: m.failures,
  }));
  const ceiling = figure('ceiling')!;
  const heartbeat = figure('heartbeat')!;
  const registrations = figure('registration')!;
  const etcd = figure('etcd');
  const ratio = (a: number, b: number) => (a / b).toFixed(2);
  const ratios = [
    ['heartbeats/s ÷ ceiling (Express)', ratio(median(heartbeat.rps), median(ceiling.rps)), '≥ 0.9'],
    ['heartbeat p99 ÷ ceiling p99', ratio(median(heartbeat.p99), median(ceiling.p99)), '≤ 1.5'],
    ['registrations/s ÷ ceiling', ratio(median(registrations.rps), median(ceiling.rps)), '≥ 0.6'],
    ...(etcd
      ? [
          [
            'heartbeats/s ÷ etcd keep-alives/s (Express)',
            ratio(median(heartbeat.rps), median(etcd.rps)),
            '≥ 1.0 (on Fastify)',
          ],
        ]
      : []),
  ];

  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, ${platform()} ${release()}, Node ${process.version}`;
  const table = [
    '| scenario | req/s | p50 ms | p99 ms | non-2xx or errors |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.name} | ${Math.round(r.rps)} | ${r.p50} | ${r.p99} | ${r.failures} |`),
  ].join('\n');
  const ratioTable = [
    '| ratio | this run | target |',
    '| --- | ---: | --- |',
    ...ratios.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
  const text = `# Benchmarks

Produced by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}: ${machine}.
HTTP adapter Express; database ${database}; ${AGENTS} agents registered; ${CONNECTIONS} connections; ${ROUNDS} alternating
rounds of ${DURATION} s per scenario (medians shown). The load generator (autocannon) runs on the same machine and
competes with the servers for CPU: compare the ratios, measured in one run, not the absolute numbers.
${etcd ? '' : '\netcd was not installed for this run, so there is no etcd comparison (Debian: `apt-get install etcd-server`).\n'}
${table}

${ratioTable}
`;
  console.log(`\n${table}\n\n${ratioTable}\n`);
  mkdirSync(join(ROOT, 'docs'), { recursive: true });
  writeFileSync(join(ROOT, 'docs', 'benchmarks.md'), text);
  console.log('Written to docs/benchmarks.md');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
