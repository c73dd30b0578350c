import { MikroORM } from '@mikro-orm/core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registryOrmOptions } from '../mikro-orm.config';
import { loadConfig } from '../src/app.config';
import { HttpAdapterName } from '../src/common/http.config';
import { maskPassword } from '../src/database/database.config';
import { AgentCardLike, EXAMPLE_AGENT_CARD } from '../src/registry/agent-card';
import { AgentRecord } from '../src/registry/persistence/agent-record.entity';
import { registrationOf } from '../src/registry/persistence/agent-rows';
import { args, databaseName, machine, MAIN, NEVER, ratio, Server, start, stop } from './harness';
import { table, writeSection } from './report';
import { compileProbe, probe } from './scale';

const LISTERS = 10;
const HEARTBEATERS = 3;
const HEARTBEAT_PAUSE_MS = 50;

/**
 * A card of about `bytes` bytes of JSON: the example card with a member of its own (cards keep members they do not
 * know) holding 1 KB entries, outside the skills, so that the search index stays the size of a typical agent's.
 */
function bigCard(name: string, bytes: number): object {
  const entries = Array.from({ length: Math.max(1, Math.round(bytes / 1024)) }, (_, i) => ({
    id: `entry-${i}`,
    text: `Entry ${i} of ${name}. `.padEnd(960, 'lorem ipsum dolor sit amet '),
    tags: ['bench', `t${i % 7}`],
  }));
  return { ...EXAMPLE_AGENT_CARD, name, 'x-bench-entries': entries };
}

/**
 * Inserts agent-0 … agent-(count-1) straight into agent_record, much faster than through the API (whose registrations
 * of 30 KiB bodies are not what this measures).
 */
async function seed(orm: MikroORM, count: number, cardBytes: number): Promise<void> {
  const now = Date.now();
  for (let start = 0; start < count; start += 200) {
    const rows = Array.from({ length: Math.min(200, count - start) }, (_, k) => ({
      ...registrationOf({
        agentId: `agent-${start + k}`,
        agentName: `Agent agent-${start + k}`,
        host: '10.0.0.1',
        port: 8080,
        ttlSeconds: 3600,
        agentCard: bigCard(`agent-${start + k}`, cardBytes) as AgentCardLike,
      }),
      registeredAt: now,
      lastHeartbeat: now,
      expiresAt: now + 3_600_000,
    }));
    await orm.em.fork().insertMany(AgentRecord, rows);
  }
}

/** A few agents heartbeating one after the other until `until` resolves: every latency, and the failures. */
async function heartbeatLoop(url: string, ids: string[], until: Promise<void>) {
  let done = false;
  void until.then(() => (done = true));
  const latencies: number[] = [];
  let failures = 0;
  await Promise.all(
    ids.map(async (id) => {
      while (!done) {
        const started = performance.now();
        const res = await fetch(`${url}/agents/${id}/heartbeat`, { method: 'POST' }).catch(() => undefined);
        latencies.push(performance.now() - started);
        if (res?.status !== 200) failures++;
        await res?.arrayBuffer();
        await new Promise((resolve) => setTimeout(resolve, HEARTBEAT_PAUSE_MS));
      }
    }),
  );
  return { latencies, failures };
}

/** Full lists (`GET /agents`, no limit), `LISTERS` at a time, until `seconds` have passed; each body read and dropped. */
async function listLoop(url: string, seconds: number) {
  const deadline = Date.now() + seconds * 1000;
  let lists = 0;
  let failures = 0;
  let bytes = 0;
  await Promise.all(
    Array.from({ length: LISTERS }, async () => {
      while (Date.now() < deadline) {
        const res = await fetch(`${url}/agents`);
        let size = 0;
        try {
          for await (const chunk of res.body as AsyncIterable<Uint8Array>) size += chunk.byteLength;
        } catch {
          failures++;
          continue;
        }
        if (res.status === 200) lists++;
        else failures++;
        bytes = Math.max(bytes, size);
      }
    }),
  );
  return { lists, failures, bytes };
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
};

/**
 * `npm run bench` (after the hot paths), or alone with `--lists`: full lists of big agents. `--list-agents` (8000)
 * agents with cards of `--card-kb` (30) KiB; LISTERS clients list all of them in a loop for `--list-seconds` (10),
 * while HEARTBEATERS agents heartbeat one after the other. Reports the registry's peak RSS and the worst heartbeat
 * latency under the lists, each against the same figure with no list running (in the same run).
 */
export async function lists(): Promise<void> {
  const agents = Number(args['list-agents'] ?? 8000);
  const cardBytes = Number(args['card-kb'] ?? 30) * 1024;
  const seconds = Number(args['list-seconds'] ?? 10);
  const adapter = (args.adapter ?? 'express') as HttpAdapterName;
  const dir = mkdtempSync(join(tmpdir(), 'agent-registry-lists-'));
  const url = args.database ?? `sqlite:${join(dir, 'registry.sqlite')}`;
  const env = {
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    HTTP_ADAPTER: adapter,
    DATABASE_URL: url,
    CLEANUP_CRON: NEVER,
    RATE_LIMIT: 'off',
    HEARTBEAT_LIMIT: 'off',
  };
  let server: Server | undefined;
  let orm: MikroORM | undefined;
  try {
    server = await start(['-r', compileProbe(dir), MAIN], { ...env, LOG_LEVEL: 'log' }, [
      'ignore',
      'pipe',
      'pipe',
      'ipc',
    ]);
    console.log(`Inserting ${agents} agents with ${cardBytes / 1024} KiB cards on ${maskPassword(url)} …`);
    orm = await MikroORM.init(registryOrmOptions(loadConfig({ DATABASE_URL: url }).database));
    await seed(orm, agents, cardBytes);
    const beaters = Array.from({ length: HEARTBEATERS }, (_, i) => `agent-${i}`);

    await probe(server, 'reset');
    const quiet = await heartbeatLoop(server.url, beaters, new Promise((resolve) => setTimeout(resolve, 3000)));
    const idle = await probe(server, 'report');

    console.log(`${LISTERS} full lists at a time for ${seconds} s, ${HEARTBEATERS} agents heartbeating …`);
    await probe(server, 'reset');
    const listing = listLoop(server.url, seconds);
    const busy = await heartbeatLoop(
      server.url,
      beaters,
      listing.then(() => undefined),
    );
    const listed = await listing;
    const loaded = await probe(server, 'report');

    const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
    const ms = (value: number) => value.toFixed(1);
    const worstQuiet = Math.max(...quiet.latencies);
    const worstBusy = Math.max(...busy.latencies);
    const rows = [
      ['full lists answered (failed)', `${listed.lists} (${listed.failures})`],
      ['bytes of one full list', `${mb(listed.bytes)} MB`],
      ['peak RSS, no list running', `${mb(idle.peakRssBytes)} MB`],
      [`peak RSS, ${LISTERS} full lists at a time`, `${mb(loaded.peakRssBytes)} MB`],
      ['peak RSS under lists ÷ without', ratio(loaded.peakRssBytes, idle.peakRssBytes)],
      [
        'at that peak: V8 heap in use, memory outside it (Buffers)',
        `${mb(loaded.peakHeapUsedBytes)} MB, ${mb(loaded.peakExternalBytes)} MB`,
      ],
      [
        'heartbeats, no list running: answered (failed), p99 / worst',
        `${quiet.latencies.length} (${quiet.failures}), ${ms(percentile(quiet.latencies, 99))} / ${ms(worstQuiet)} ms`,
      ],
      [
        'heartbeats under the lists: answered (failed), p99 / worst',
        `${busy.latencies.length} (${busy.failures}), ${ms(percentile(busy.latencies, 99))} / ${ms(worstBusy)} ms`,
      ],
      ['worst heartbeat under lists ÷ without', ratio(worstBusy, worstQuiet)],
      ['longest event-loop stall under the lists', `${ms(loaded.stallMs)} ms (longest GC pause ${ms(loaded.gcMs)} ms)`],
    ];
    const results = table(['figure', 'this run'], rows, ['l', 'r']);
    console.log(`\n${results}\n`);
    writeSection(
      'lists',
      `## Full lists of big agents

\`npm run bench\` (or \`npm run bench -- --lists\`) on ${new Date().toISOString().slice(0, 10)}: ${machine()}.
HTTP adapter ${adapter}; database ${databaseName(url)}. ${agents} agents inserted straight into the table, each with an agent
card of about ${cardBytes / 1024} KiB. ${LISTERS} clients ask for the full list (\`GET /agents\`, no \`limit\`) in a loop
for ${seconds} s, reading each answer to its end, while ${HEARTBEATERS} agents heartbeat one after the other (a pause of
${HEARTBEAT_PAUSE_MS} ms between two of one agent's). Peak RSS is the registry process's, sampled every 5 ms
(\`bench/stall-probe.ts\`); heartbeat latency is measured by the client, from request to answer.

${results}`,
    );
  } finally {
    await orm?.close();
    await stop(server);
    rmSync(dir, { recursive: true, force: true });
  }
}
