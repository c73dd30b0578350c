import { MikroORM } from '@mikro-orm/core';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModuleKind, transpileModule } from 'typescript';
import { registryOrmOptions } from '../mikro-orm.config';
import { loadConfig } from '../src/app.config';
import { HttpAdapterName } from '../src/common/http.config';
import { maskPassword } from '../src/database/database.config';
import { AgentCapability, AgentLabel, AgentRecord } from '../src/registry/persistence/agent-record.entity';
import { registrationOf } from '../src/registry/persistence/agent-rows';
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
  ROOT,
  ROUNDS,
  Server,
  start,
  stop,
} from './harness';
import { graceOverLapsed, Stall } from './grace';
import { facetsOf, QUERIES, queryRates, watchLatency } from './discovery';
import { table, writeSection } from './report';

/** The registry runs its cleanup this often in the scale run; the expired agents are removed by one run. */
const CLEANUP_EVERY_SECONDS = 5;
const SMALL = 10_000;
const INSERT_CHUNK = 1000;
const WATCHERS = 100;
const WATCHED_EVENTS = 1000;

export interface Probe {
  stallMs: number;
  gcMs: number;
  rssBytes: number;
  heapBytes: number;
  peakRssBytes: number;
  peakHeapUsedBytes: number;
  peakExternalBytes: number;
}

/** The stall probe as JavaScript, so the registry's process runs without ts-node (and its memory). */
export function compileProbe(dir: string): string {
  const source = readFileSync(join(ROOT, 'bench', 'stall-probe.ts'), 'utf8');
  const file = join(dir, 'stall-probe.js');
  writeFileSync(file, transpileModule(source, { compilerOptions: { module: ModuleKind.CommonJS } }).outputText);
  return file;
}

/** Asks the stall probe in the registry's process; 'reset' also starts a new window. */
export function probe(server: Server, message: 'reset' | 'report'): Promise<Probe> {
  return new Promise((resolve) => {
    server.child.once('message', (answer) => resolve(answer as Probe));
    server.child.send(message);
  });
}

/**
 * Inserts agent-from … agent-(to-1) straight into the tables, much faster than through the API: each with the
 * capabilities and labels of facetsOf, in agent_record and in the side tables the filters use.
 */
async function seed(orm: MikroORM, from: number, to: number, expiresAt: number): Promise<void> {
  const now = Date.now();
  for (let start = from; start < to; start += INSERT_CHUNK) {
    const ids = Array.from({ length: Math.min(INSERT_CHUNK, to - start) }, (_, i) => start + i);
    const rows = ids.map((n) => ({
      ...registrationOf({
        agentId: `agent-${n}`,
        agentName: `Agent agent-${n}`,
        host: '10.0.0.1',
        port: 8080,
        ttlSeconds: 3600,
        ...facetsOf(n),
      }),
      registeredAt: now,
      lastHeartbeat: now,
      expiresAt,
    }));
    const em = orm.em.fork();
    await em.insertMany(AgentRecord, rows);
    await em.insertMany(
      AgentCapability,
      ids.flatMap((n) => facetsOf(n).capabilities.map((capability) => ({ agentId: `agent-${n}`, capability }))),
    );
    await em.insertMany(
      AgentLabel,
      ids.flatMap((n) =>
        Object.entries(facetsOf(n).labels).map(([name, value]) => ({ agentId: `agent-${n}`, name, value })),
      ),
    );
    if ((start - from) % 100_000 === 0) process.stdout.write('.');
  }
  process.stdout.write('\n');
}

/** Heartbeats for random agents among the first `agents`, ROUNDS rounds; the median rate. */
async function heartbeatRate(server: Server, agents: number): Promise<number> {
  const rates: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const result = await load(server.url, heartbeats(agents));
    if (result.failures > 0) throw new Error(`${result.failures} heartbeats failed at ${agents} agents`);
    console.log(`heartbeats among ${agents} agents, round ${round}/${ROUNDS}: ${Math.round(result.rps)} req/s`);
    rates.push(result.rps);
  }
  return median(rates);
}

/**
 * `npm run bench -- --scale`: the registry with 1,000,000 agents (see scaleAgents), then the restart grace over
 * 1,000,000 lapsed leases (see scaleGrace), each on a database of its own. `--only=agents` or `--only=grace` runs one.
 */
export async function scale(): Promise<void> {
  if (args.only !== 'grace') await scaleAgents();
  if (args.only !== 'agents') await scaleGrace();
}

/**
 * The restart grace over 1,000,000 (--lapsed) leases that ran out while no replica served (see graceOverLapsed):
 * how long it takes, the longest event-loop stall meanwhile, and how a small fleet's heartbeats fare meanwhile
 * against the same load before it.
 */
async function scaleGrace(): Promise<void> {
  const lapsed = Number(args.lapsed ?? 1_000_000);
  const adapter = (args.adapter ?? 'express') as HttpAdapterName;
  const dir = mkdtempSync(join(tmpdir(), 'agent-registry-grace-'));
  const url = args.database ?? `sqlite:${join(dir, 'registry.sqlite')}`;
  const env = {
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'log',
    HTTP_ADAPTER: adapter,
    DATABASE_URL: url,
    // Nothing may remove the lapsed agents before the grace; the cleanup would wait for it anyway.
    CLEANUP_CRON: NEVER,
    RESTART_GRACE_AFTER: '15s',
    RATE_LIMIT: 'off',
  };
  let server: Server | undefined;
  let orm: MikroORM | undefined;
  try {
    server = await start(['-r', compileProbe(dir), MAIN], env, ['ignore', 'pipe', 'pipe', 'ipc']);
    // The seeding statements may take longer than the registry's statement timeout.
    orm = await MikroORM.init(
      registryOrmOptions(loadConfig({ DATABASE_URL: url, DATABASE_STATEMENT_TIMEOUT_MS: '3600000' }).database),
    );
    const running = server;
    const grace = await graceOverLapsed(server, orm, lapsed, DURATION, (message) => probe(running, message));
    const { before, during, stallBefore, stallDuring } = grace;
    const stall = (s: Stall) => `${s.stallMs.toFixed(1)} ms (longest GC pause in it: ${s.gcMs.toFixed(1)} ms)`;
    const rows = [
      [`leases extended, of ${lapsed} lapsed`, String(grace.extended), `${lapsed}`],
      ['time the grace took', `${grace.seconds.toFixed(1)} s`, ''],
      ['longest event-loop stall while it ran', stall(stallDuring), '≤ 20 ms'],
      ['longest event-loop stall under the same heartbeats before it', stall(stallBefore), ''],
      ['heartbeats failed while it ran (non-2xx, errors, timeouts)', `${during.failures} of ${during.requests}`, '0'],
      [
        'heartbeats/s while it ran ÷ before it',
        `${ratio(during.rps, before.rps)} (${Math.round(during.rps)} ÷ ${Math.round(before.rps)})`,
        '',
      ],
      [
        'heartbeat p99 while it ran ÷ before it',
        `${ratio(during.p99, before.p99)} (${during.p99} ÷ ${before.p99} ms)`,
        '',
      ],
      ['slowest heartbeat while it ran, before it', `${during.max} ms, ${before.max} ms`, ''],
    ];
    const results = table(['figure', 'this run', 'target'], rows, ['l', 'r', 'l']);
    console.log(`\n${results}\n`);
    writeSection(
      url.startsWith('postgres') ? 'scale-grace-postgresql' : 'scale-grace',
      `## Restart grace over ${lapsed} lapsed leases

\`npm run bench -- --scale\` on ${new Date().toISOString().slice(0, 10)}: ${machine()}.
HTTP adapter ${adapter}; database ${databaseName(url)}. ${lapsed} agents inserted straight into the table with leases
that ran out a second before, and the watermark set back a minute before that, as after an outage of the database;
the running registry's next look (every 5 s) extends them in chunks. 10 connections heartbeat random agents among
them (a fleet coming back) for ${DURATION} s before (those leases were renewed before the gap's end, so they are
extended too) and from the moment the grace starts until it is done (those leave the gap: fewer are extended than
inserted). The stall is the longest delay of a 5 ms \`setInterval\` in
the registry's process (\`bench/stall-probe.ts\`) from the moment the watermark was set back until the registry
logged that the grace was done, and, to compare, while the fleet heartbeated before it.

${results}`,
    );
  } finally {
    await orm?.close();
    await stop(server);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The registry with 1,000,000 agents (--agents). The heartbeat rate at 10,000 agents and at 1,000,000, the RSS
 * from idle to 1,000,000 agents, and the longest event-loop stall while the cleanup job removes 100,000 (--expired)
 * expired agents.
 */
async function scaleAgents(): Promise<void> {
  const agents = Number(args.agents ?? 1_000_000);
  const expired = Number(args.expired ?? 100_000);
  const adapter = (args.adapter ?? 'express') as HttpAdapterName;
  const dir = mkdtempSync(join(tmpdir(), 'agent-registry-scale-'));
  const url = args.database ?? `sqlite:${join(dir, 'registry.sqlite')}`;
  const env = {
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'log',
    HTTP_ADAPTER: adapter,
    DATABASE_URL: url,
    CLEANUP_CRON: `*/${CLEANUP_EVERY_SECONDS} * * * * *`,
    // The whole load comes from one address: RATE_LIMIT (per address) would cap it.
    RATE_LIMIT: 'off',
  };
  let server: Server | undefined;
  let orm: MikroORM | undefined;
  try {
    server = await start(['-r', compileProbe(dir), MAIN], env, ['ignore', 'pipe', 'pipe', 'ipc']);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const idle = await probe(server, 'report');
    orm = await MikroORM.init(registryOrmOptions(loadConfig({ DATABASE_URL: url }).database));

    console.log(`Registering ${SMALL} agents through the API on ${maskPassword(url)} …`);
    await preregister(server.url, SMALL, facetsOf);
    const small = await heartbeatRate(server, SMALL);
    const atSmall = await probe(server, 'report');
    const queriesAtSmall = await queryRates(server.url);

    console.log(`Inserting agents up to ${agents} …`);
    await seed(orm, SMALL, agents, Date.now() + 3_600_000);
    // What autovacuum does after this many inserts: PostgreSQL's planner weighs trigram index and primary key by it.
    if (url.startsWith('postgres')) await orm.em.getConnection().execute('analyze');
    const large = await heartbeatRate(server, agents);
    const atLarge = await probe(server, 'report');
    const queriesAtLarge = await queryRates(server.url);
    console.log(`Watching with ${WATCHERS} clients while ${WATCHED_EVENTS} agents register …`);
    const watch = await watchLatency(server.url, WATCHERS, WATCHED_EVENTS);

    // Agents whose leases run out together once they are all stored; the next cleanup run removes them at once.
    console.log(`Inserting ${expired} agents that expire together …`);
    const expiresAt = Date.now() + 30_000;
    await seed(orm, agents, agents + expired, expiresAt);
    // The window opens once they have expired (the seeding and the garbage of the load before it are over) and
    // closes when the cleanup run that removes them has logged it.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now())));
    await probe(server, 'reset');
    const removed = new RegExp(`Cleanup removed (\\d+) expired agent`);
    const deadline = expiresAt + 60_000;
    let match: RegExpExecArray | null = null;
    while (!(match = removed.exec(server.output())) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    if (!match) throw new Error(`the cleanup did not run within a minute of the expiry:\n${server.output()}`);
    const cleanup = await probe(server, 'report');
    const removedCount = Number(match[1]);

    const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
    const rows = [
      [
        `heartbeats/s at ${agents} agents ÷ at ${SMALL}`,
        `${ratio(large, small)} (${Math.round(large)} ÷ ${Math.round(small)})`,
        '≥ 0.9',
      ],
      [`RSS growth, idle → ${agents} agents under load`, `${mb(atLarge.rssBytes - idle.rssBytes)} MB`, '≤ 64 MB'],
      [
        `RSS growth, ${SMALL} → ${agents} agents under the same load`,
        `${mb(atLarge.rssBytes - atSmall.rssBytes)} MB`,
        '',
      ],
      [
        `longest event-loop stall while cleanup removed ${removedCount} of ${expired} expired agents`,
        `${cleanup.stallMs.toFixed(1)} ms (longest GC pause in it: ${cleanup.gcMs.toFixed(1)} ms)`,
        '≤ 20 ms',
      ],
    ];
    const results = table(['figure', 'this run', 'target'], rows, ['l', 'r', 'l']);
    const memory = table(
      ['registry process', 'RSS MB', 'V8 heap MB'],
      [
        ['idle, after boot', mb(idle.rssBytes), mb(idle.heapBytes)],
        [`after heartbeats among ${SMALL} agents`, mb(atSmall.rssBytes), mb(atSmall.heapBytes)],
        [`after heartbeats among ${agents} agents`, mb(atLarge.rssBytes), mb(atLarge.heapBytes)],
        ['after the cleanup', mb(cleanup.rssBytes), mb(cleanup.heapBytes)],
      ],
      ['l', 'r', 'r'],
    );
    const queries = table(
      [
        'query',
        `agents answered at ${SMALL} / ${agents}`,
        `req/s at ${SMALL}`,
        `req/s at ${agents}`,
        'ratio',
        `p99 ms at ${agents}`,
      ],
      QUERIES.map(([name], i) => [
        name,
        `${queriesAtSmall[i].agents} / ${queriesAtLarge[i].agents}`,
        String(Math.round(queriesAtSmall[i].rps)),
        String(Math.round(queriesAtLarge[i].rps)),
        ratio(queriesAtLarge[i].rps, queriesAtSmall[i].rps),
        String(queriesAtLarge[i].p99),
      ]),
      ['l', 'r', 'r', 'r', 'r', 'r'],
    );
    const watching = table(
      ['watch', 'this run'],
      [
        ['watchers (half filtered on a capability every new agent has)', String(watch.watchers)],
        ['registrations, each an event to every watcher', String(watch.events)],
        [
          'delay from the 200 to the event at a watcher, p50 / p99 / max',
          `${watch.p50Ms.toFixed(1)} / ${watch.p99Ms.toFixed(1)} / ${watch.maxMs.toFixed(1)} ms`,
        ],
        ['events delivered per second, all watchers', String(Math.round(watch.deliveredPerSecond))],
      ],
      ['l', 'r'],
    );
    console.log(`\n${results}\n\n${memory}\n\n${queries}\n\n${watching}\n`);
    writeSection(
      url.startsWith('postgres') ? 'scale-postgresql' : 'scale',
      `## Scale: ${agents} agents

\`npm run bench -- --scale\` on ${new Date().toISOString().slice(0, 10)}: ${machine()}.
HTTP adapter ${adapter}; database ${databaseName(url)}. ${SMALL} agents registered through the API, the rest
inserted straight into the table. Heartbeats for random agents at ${CONNECTIONS} connections, ${ROUNDS} rounds of
${DURATION} s (medians). RSS is the registry process's, idle right after boot and after each heartbeat load. The stall
is the longest delay of a 5 ms \`setInterval\` in the registry's process (\`bench/stall-probe.ts\`) from the moment
the expiring agents expired until the cleanup job (every ${CLEANUP_EVERY_SECONDS} s) logged their removal.

${results}

${memory}

Queries at ${SMALL} and at ${agents} agents (each agent has 1 of 100 capabilities and 1 of 10 zone labels; 10 have
the capability \`rare\`), ${CONNECTIONS} connections, one round of ${DURATION} s each:

${queries}

The watch at ${agents} agents: ${WATCHERS} SSE clients on \`GET /events\`, then ${WATCHED_EVENTS} registrations through
the API, ${CONNECTIONS} at a time:

${watching}`,
    );
  } finally {
    await orm?.close();
    await stop(server);
    rmSync(dir, { recursive: true, force: true });
  }
}
