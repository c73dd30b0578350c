import { Request } from 'autocannon';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keysFileLine } from '../src/auth/api-keys';
import { HttpAdapterName, HTTP_ADAPTERS } from '../src/common/http.config';
import { maskPassword } from '../src/database/database.config';
import {
  args,
  CONNECTIONS,
  databaseName,
  DURATION,
  heartbeats,
  load,
  machine,
  MAIN,
  median,
  NEVER,
  preregister,
  ratio,
  registration,
  ROOT,
  ROUNDS,
  Server,
  start,
  stop,
  which,
} from './harness';
import { table, writeSection } from './report';
import { lists } from './lists';
import { scale } from './scale';

/**
 * `npm run bench`: the registry's hot paths on each HTTP adapter against the framework ceiling on that adapter (and
 * etcd's lease keep-alive when an etcd binary is installed), measured in one run in alternating rounds, so the
 * ratios hold on a shared, noisy machine even when the absolute numbers do not; then full lists of big agents
 * (bench/lists.ts). Prints the tables and writes them to docs/benchmarks.md. `--scale` runs the scale measurements
 * instead (bench/scale.ts), `--lists` the full lists alone.
 *
 *   npm run bench -- [--tuned] [--duration=5] [--rounds=2] [--connections=50] [--agents=10000] [--database=<DATABASE_URL>]
 *   npm run bench -- --lists [--list-agents=8000] [--card-kb=30] [--list-seconds=10] [--adapter=express]
 *   npm run bench -- --scale [--agents=1000000] [--expired=100000] [--lapsed=1000000] [--only=agents|grace]
 *                            [--adapter=express] [--database=<DATABASE_URL>]
 */

interface Scenario {
  name: string;
  url: string;
  request: Request;
  rps: number[];
  p50: number[];
  p99: number[];
  failures: number;
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
  const server = { url, child, output: () => '' };
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

/** The secret of the bench's API key: an `agent` key, as agents use (REGISTRY_API_KEYS_FILE). */
const SECRET = 'bench-agent-secret-0123456789';
/** What agents send with a heartbeat (the client's `status`); the registry ignores it, but has to read it. */
const HEARTBEAT_BODY = JSON.stringify({ status: 'healthy' });

/**
 * The ceiling with one feature switched off by its own setting, to show what that feature costs per request: each is
 * compared with the full ceiling in the same run.
 */
const CEILING_WITHOUT: { feature: string; env: NodeJS.ProcessEnv; bodyless?: boolean }[] = [
  {
    feature: 'the rate limits (RATE_LIMIT=off HEARTBEAT_LIMIT=off)',
    env: { RATE_LIMIT: 'off', HEARTBEAT_LIMIT: 'off' },
  },
  // No keys file: REGISTRY_AUTH=off refuses one.
  { feature: 'API keys (REGISTRY_AUTH=off)', env: { REGISTRY_AUTH: 'off', REGISTRY_API_KEYS_FILE: undefined } },
  { feature: 'the request log line (LOG_LEVEL=warn)', env: { LOG_LEVEL: 'warn' } },
  { feature: 'the heartbeat body (none sent)', env: {}, bodyless: true },
];

async function standard(): Promise<void> {
  const agents = Number(args.agents ?? 10_000);
  // --tuned: what users could switch off (the rate limits, the scheduled cleanup) switched off, and heartbeats sent
  // without a body.
  const tuned = args.tuned === 'true';
  const dir = mkdtempSync(join(tmpdir(), 'agent-registry-bench-'));
  const keysFile = join(dir, 'keys');
  // An agent key, with the default quota unless --agents asks for more agents than it allows.
  writeFileSync(keysFile, `${keysFileLine('bench', 'agent', SECRET)}${agents > 10_000 ? ` agents=${agents}` : ''}\n`);
  const auth = { authorization: `Bearer ${SECRET}` };
  const json = { ...auth, 'content-type': 'application/json' };
  // Each adapter's registry on its own SQLite file; a given PostgreSQL database is shared, as replicas share it.
  const database = (adapter: HttpAdapterName) => args.database ?? `sqlite:${join(dir, `registry-${adapter}.sqlite`)}`;
  // As `npm start` runs (every default), with an API keys file; PORT=0 and loopback for the bench. LOG_LEVEL=log (the
  // default) also logs the line that says where the server listens.
  const env: NodeJS.ProcessEnv = { PORT: '0', HOST: '127.0.0.1', REGISTRY_API_KEYS_FILE: keysFile };
  if (tuned) Object.assign(env, { RATE_LIMIT: 'off', HEARTBEAT_LIMIT: 'off', CLEANUP_CRON: NEVER });
  const heartbeat = (bodyless = tuned): Request =>
    bodyless
      ? { ...heartbeats(agents), headers: auth }
      : { ...heartbeats(agents), headers: json, body: HEARTBEAT_BODY };
  const servers: Server[] = [];
  let etcd: Awaited<ReturnType<typeof startEtcd>>;
  try {
    const scenarios: Scenario[] = [];
    const add = (name: string, url: string, request: Request) =>
      scenarios.push({ name, url, request, rps: [], p50: [], p99: [], failures: 0 });
    const ceilingApp = ['-r', 'ts-node/register/transpile-only', join(ROOT, 'bench', 'ceiling.ts')];
    for (const adapter of HTTP_ADAPTERS) {
      const adapterEnv = { ...env, HTTP_ADAPTER: adapter, DATABASE_URL: database(adapter) };
      const registry = await start([MAIN], adapterEnv);
      const ceiling = await start(ceilingApp, adapterEnv);
      const bare = await start([...ceilingApp, '--bare'], adapterEnv);
      servers.push(registry, ceiling, bare);
      if (adapter === HTTP_ADAPTERS[0] || args.database === undefined) {
        console.log(`Registering ${agents} agents on ${maskPassword(database(adapter))} …`);
        await preregister(registry.url, agents, undefined, CONNECTIONS, auth);
      }
      const randomAgent = () => `agent-${Math.floor(Math.random() * agents)}`;
      add(`bare NestJS no-op route, ${adapter}`, bare.url, heartbeat());
      add(`ceiling (no-op route, the registry's pipeline), ${adapter}`, ceiling.url, heartbeat());
      if (!tuned) {
        for (const { feature, env: without, bodyless } of CEILING_WITHOUT) {
          const server = bodyless ? ceiling : await start(ceilingApp, { ...adapterEnv, ...without });
          if (!bodyless) servers.push(server);
          add(`ceiling without ${feature}, ${adapter}`, server.url, heartbeat(bodyless));
        }
      }
      add(`heartbeat, ${adapter}`, registry.url, heartbeat());
      add(`registration, ${adapter}`, registry.url, {
        method: 'POST',
        path: '/agents/register',
        headers: json,
        setupRequest: (req) => ({ ...req, body: registration(randomAgent()) }),
      });
      add(`GET /agents/{id}, ${adapter}`, registry.url, {
        method: 'GET',
        headers: auth,
        setupRequest: (req) => ({ ...req, path: `/agents/${randomAgent()}` }),
      });
    }
    etcd = await startEtcd(dir);
    if (etcd) {
      const body = JSON.stringify({ ID: etcd.leaseId });
      add('etcd lease keep-alive (HTTP gateway)', etcd.server.url, {
        method: 'POST',
        path: '/v3/lease/keepalive',
        body,
      });
    }

    // A second of each first, unmeasured: a server's first requests also compile its code (the registries were warmed
    // by the registrations, the ceilings were not).
    console.log('Warming up each scenario for 1 s …');
    for (const scenario of scenarios) await load(scenario.url, scenario.request, 1);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const scenario of scenarios) {
        process.stdout.write(`round ${round}/${ROUNDS}: ${scenario.name} … `);
        const result = await load(scenario.url, scenario.request);
        console.log(`${Math.round(result.rps)} req/s`);
        scenario.rps.push(result.rps);
        scenario.p50.push(result.p50);
        scenario.p99.push(result.p99);
        scenario.failures += result.failures;
      }
    }
    report(scenarios, databaseName(database('express')), agents, tuned, etcd !== undefined);
  } finally {
    await Promise.all([...servers, etcd?.server].map(stop));
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(scenarios: Scenario[], database: string, agents: number, tuned: boolean, withEtcd: boolean): void {
  const figure = (name: string) => scenarios.find((s) => s.name.startsWith(name));
  const rps = (name: string) => median(figure(name)!.rps);
  const p99 = (name: string) => median(figure(name)!.p99);
  const ratios: string[][] = [];
  const features: string[][] = [];
  // The issue's targets: against the ceiling on both adapters (heartbeats on Express), and against etcd on Fastify.
  for (const adapter of HTTP_ADAPTERS) {
    const ceiling = `ceiling (no-op route, the registry's pipeline), ${adapter}`;
    const express = adapter === 'express';
    ratios.push(
      [`heartbeats/s ÷ ceiling, ${adapter}`, ratio(rps(`heartbeat, ${adapter}`), rps(ceiling)), express ? '≥ 0.9' : ''],
      [
        `heartbeat p99 ÷ ceiling p99, ${adapter}`,
        ratio(p99(`heartbeat, ${adapter}`), p99(ceiling)),
        express ? '≤ 1.5' : '',
      ],
      [`registrations/s ÷ ceiling, ${adapter}`, ratio(rps(`registration, ${adapter}`), rps(ceiling)), '≥ 0.6'],
      [
        `ceiling ÷ bare NestJS, ${adapter}`,
        ratio(rps(ceiling), rps(`bare NestJS no-op route, ${adapter}`)),
        express ? '≥ 0.8' : '',
      ],
    );
    if (withEtcd) {
      ratios.push(
        [
          `heartbeats/s ÷ etcd keep-alives/s, ${adapter}`,
          ratio(rps(`heartbeat, ${adapter}`), rps('etcd')),
          express ? '' : '≥ 1.0',
        ],
        [
          `heartbeat p99 ÷ etcd p99, ${adapter}`,
          ratio(p99(`heartbeat, ${adapter}`), p99('etcd')),
          express ? '' : '≤ 1.5',
        ],
      );
    }
    if (!tuned) {
      for (const { feature } of CEILING_WITHOUT) {
        const without = `ceiling without ${feature}, ${adapter}`;
        features.push([feature, adapter, ratio(rps(ceiling), rps(without)), String(figure(without)!.failures)]);
      }
    }
  }
  const results = table(
    ['scenario', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx or errors'],
    scenarios.map((s) => [s.name, Math.round(median(s.rps)), median(s.p50), median(s.p99), s.failures]),
    ['l', 'r', 'r', 'r', 'r'],
  );
  const ratioTable = table(['ratio', 'this run', 'target'], ratios, ['l', 'r', 'l']);
  const featureTable = tuned
    ? ''
    : `\n\nWhat each feature costs the ceiling: its req/s ÷ the same ceiling's with the feature switched off (1.00: nothing
measurable; 0.90: the feature takes a tenth of the ceiling's rate).

${table(['switched off', 'adapter', 'ceiling ÷ ceiling without it', 'non-2xx without it'], features, ['l', 'l', 'r', 'r'])}

A run without a feature that answered non-2xx was cut by another feature (a ceiling past RATE_LIMIT's 10,000/s
per key answers 429, which costs less than a 200): its ratio overstates the feature's cost.`;
  console.log(`\n${results}\n\n${ratioTable}${featureTable}\n`);
  const configuration = tuned
    ? '`--tuned`: RATE_LIMIT=off, HEARTBEAT_LIMIT=off, CLEANUP_CRON=off, heartbeats without a body'
    : 'as `npm start` runs it (every default: the rate limits, the request log line, the metrics, the cleanup every ' +
      'minute), with an API keys file and one `agent` key on every request; heartbeats carry `' +
      HEARTBEAT_BODY +
      '`, as clients send';
  writeSection(
    tuned ? 'standard-tuned' : 'standard',
    `## Hot paths against the framework ceiling${tuned ? ', tuned' : ''}

\`npm run bench${tuned ? ' -- --tuned' : ''}\` on ${new Date().toISOString().slice(0, 10)}: ${machine()}.
The registry ${configuration}.
Database ${database}, one registry per HTTP adapter; ${agents} agents registered; ${CONNECTIONS} connections; ${ROUNDS}
alternating rounds of ${DURATION} s per scenario (medians shown). The ceiling is a NestJS app with the registry's HTTP
adapter and global pipeline, configured the same, and a heartbeat-shaped route that does nothing; the bare one is
NestJS as it comes on the same adapter (\`bench/ceiling.ts\`). Each gets the same requests as the registry's heartbeats.
${withEtcd ? '' : '\netcd was not installed for this run, so there is no etcd comparison (Debian: `apt-get install etcd-server`).\n'}
${results}

${ratioTable}${featureTable}`,
  );
}

const run = args.scale ? scale : args.lists ? lists : args.tuned === 'true' ? standard : () => standard().then(lists);
run().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
