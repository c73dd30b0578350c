import { Request } from 'autocannon';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
 *   npm run bench -- [--duration=5] [--rounds=2] [--connections=50] [--agents=10000] [--database=<DATABASE_URL>]
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

async function standard(): Promise<void> {
  const agents = Number(args.agents ?? 10_000);
  const dir = mkdtempSync(join(tmpdir(), 'agent-registry-bench-'));
  // Each adapter's registry on its own SQLite file; a given PostgreSQL database is shared, as replicas share it.
  const database = (adapter: HttpAdapterName) => args.database ?? `sqlite:${join(dir, `registry-${adapter}.sqlite`)}`;
  // LOG_LEVEL=log: the line that says where the server listens is logged at that level.
  // The whole load comes from one address, at the registry's ceiling: RATE_LIMIT (per address) would cap it.
  const env = { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'log', CLEANUP_CRON: NEVER, RATE_LIMIT: 'off' };
  const servers: Server[] = [];
  let etcd: Awaited<ReturnType<typeof startEtcd>>;
  try {
    const scenarios: Scenario[] = [];
    const add = (name: string, url: string, request: Request) =>
      scenarios.push({ name, url, request, rps: [], p50: [], p99: [], failures: 0 });
    for (const adapter of HTTP_ADAPTERS) {
      const adapterEnv = { ...env, HTTP_ADAPTER: adapter, DATABASE_URL: database(adapter) };
      const registry = await start([MAIN], adapterEnv);
      const ceiling = await start(
        ['-r', 'ts-node/register/transpile-only', join(ROOT, 'bench', 'ceiling.ts')],
        adapterEnv,
      );
      servers.push(registry, ceiling);
      if (adapter === HTTP_ADAPTERS[0] || args.database === undefined) {
        console.log(`Registering ${agents} agents on ${maskPassword(database(adapter))} …`);
        await preregister(registry.url, agents);
      }
      const randomAgent = () => `agent-${Math.floor(Math.random() * agents)}`;
      add(`ceiling (no-op NestJS route), ${adapter}`, ceiling.url, heartbeats(agents));
      add(`heartbeat, ${adapter}`, registry.url, heartbeats(agents));
      add(`registration, ${adapter}`, registry.url, {
        method: 'POST',
        path: '/agents/register',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({ ...req, body: registration(randomAgent()) }),
      });
      add(`GET /agents/{id}, ${adapter}`, registry.url, {
        method: 'GET',
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
    report(scenarios, databaseName(database('express')), agents, etcd !== undefined);
  } finally {
    await Promise.all([...servers, etcd?.server].map(stop));
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(scenarios: Scenario[], database: string, agents: number, withEtcd: boolean): void {
  const figure = (name: string) => scenarios.find((s) => s.name.startsWith(name));
  const rps = (name: string) => median(figure(name)!.rps);
  const p99 = (name: string) => median(figure(name)!.p99);
  const ratios: string[][] = [];
  // The issue's targets are set against the Express ceiling, and against etcd on Fastify.
  for (const adapter of HTTP_ADAPTERS) {
    const ceiling = `ceiling (no-op NestJS route), ${adapter}`;
    const express = adapter === 'express';
    ratios.push(
      [`heartbeats/s ÷ ceiling, ${adapter}`, ratio(rps(`heartbeat, ${adapter}`), rps(ceiling)), express ? '≥ 0.9' : ''],
      [
        `heartbeat p99 ÷ ceiling p99, ${adapter}`,
        ratio(p99(`heartbeat, ${adapter}`), p99(ceiling)),
        express ? '≤ 1.5' : '',
      ],
      [
        `registrations/s ÷ ceiling, ${adapter}`,
        ratio(rps(`registration, ${adapter}`), rps(ceiling)),
        express ? '≥ 0.6' : '',
      ],
    );
    if (withEtcd) {
      ratios.push([
        `heartbeats/s ÷ etcd keep-alives/s, ${adapter}`,
        ratio(rps(`heartbeat, ${adapter}`), rps('etcd')),
        express ? '' : '≥ 1.0',
      ]);
    }
  }
  const results = table(
    ['scenario', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx or errors'],
    scenarios.map((s) => [s.name, Math.round(median(s.rps)), median(s.p50), median(s.p99), s.failures]),
    ['l', 'r', 'r', 'r', 'r'],
  );
  const ratioTable = table(['ratio', 'this run', 'target'], ratios, ['l', 'r', 'l']);
  console.log(`\n${results}\n\n${ratioTable}\n`);
  writeSection(
    'standard',
    `## Hot paths against the framework ceiling

\`npm run bench\` on ${new Date().toISOString().slice(0, 10)}: ${machine()}.
Database ${database}, one registry per HTTP adapter; ${agents} agents registered; ${CONNECTIONS} connections; ${ROUNDS}
alternating rounds of ${DURATION} s per scenario (medians shown). The ceiling is a NestJS app with the registry's
global pipeline and a heartbeat-shaped route that does nothing (\`bench/ceiling.ts\`), on the same adapter.
${withEtcd ? '' : '\netcd was not installed for this run, so there is no etcd comparison (Debian: `apt-get install etcd-server`).\n'}
${results}

${ratioTable}`,
  );
}

const run = args.scale ? scale : args.lists ? lists : () => standard().then(lists);
run().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
