import { EventStreamParser } from '@agent-registry/client';
import { get, IncomingMessage } from 'node:http';
import { CONNECTIONS, load, median, Result } from './harness';

/**
 * The discovery and watch figures of the scale run: filtered, paged queries (measured at 10,000 agents and again at
 * 1,000,000, so the ratio shows whether a page costs what it returns or what the registry holds), and how long the
 * change feed takes to bring an event to many watchers.
 */

/**
 * What agent i registers to be found by: 1 of 100 capabilities, 1 of 10 zones (independent of the capability), and
 * 10 agents in 1,000,000 have the capability `rare`.
 */
export function facetsOf(i: number): { capabilities: string[]; labels: Record<string, string> } {
  return {
    capabilities: [`cap-${i % 100}`, ...(i % 100_000 === 7 ? ['rare'] : [])],
    labels: { zone: `z${Math.floor(i / 100) % 10}` },
  };
}

export const QUERIES: [string, string][] = [
  ['one capability (1% of agents), a page of 100', '/agents?capability=cap-7&limit=100'],
  ['a capability and a label (0.1%), a page of 100', '/agents?capability=cap-7&label=zone:z7&limit=100'],
  ['one label (10%), a page of 100', '/agents?label=zone:z3&limit=100'],
  ['a rare capability (10 agents in 1,000,000)', '/agents?capability=rare&limit=100'],
  ['no filter, a page of 100', '/agents?limit=100'],
  // The `rare` agents have cap-7 too: listed first, the common capability must not drive the query.
  ['a common capability, then a rare one', '/agents?capability=cap-7&capability=rare&limit=100'],
  ['name= that no agent matches', '/agents?name=nobody&limit=100'],
  ['q= matching a few agents', '/agents?q=agent-9999&limit=100'],
  ['name= matching every agent, a page of 100', '/agents?name=agent&limit=100'],
];

/** Requests/s and p99 of each query, one round of DURATION seconds each, and how many agents it answers. */
export async function queryRates(url: string): Promise<(Result & { agents: number })[]> {
  const results: (Result & { agents: number })[] = [];
  for (const [name, path] of QUERIES) {
    const agents = ((await (await fetch(`${url}${path}`)).json()) as unknown[]).length;
    const result = await load(url, { method: 'GET', path });
    if (result.failures > 0) throw new Error(`${result.failures} failures for ${path}`);
    console.log(`${name}: ${agents} agents, ${Math.round(result.rps)} req/s, p99 ${result.p99} ms`);
    results.push({ ...result, agents });
  }
  return results;
}

export interface WatchFigures {
  watchers: number;
  events: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  deliveredPerSecond: number;
}

/**
 * `watchers` SSE clients (half unfiltered, half filtered on a capability every new agent has), then `events` new
 * registrations at CONNECTIONS at a time: the delay from each registration's 200 to its event at each watcher.
 */
export async function watchLatency(url: string, watchers: number, events: number): Promise<WatchFigures> {
  const answered = new Map<string, number>();
  const delays: number[] = [];
  let delivered = 0;
  const streams: IncomingMessage[] = [];
  let allDelivered: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (allDelivered = resolve));
  for (let w = 0; w < watchers; w++) {
    const path = w % 2 ? '/events?capability=watched' : '/events';
    const stream = await new Promise<IncomingMessage>((resolve, reject) =>
      get(`${url}${path}`, { agent: false }, resolve).on('error', reject),
    );
    stream.setEncoding('utf8');
    const parser = new EventStreamParser();
    stream.on('data', (chunk: string) => {
      for (const { data } of parser.push(chunk)) {
        if (data === undefined) continue;
        const id = (JSON.parse(data) as { agent_id: string }).agent_id;
        // An event may arrive before the client has read its registration's answer: that is a delay of 0.
        delays.push(Math.max(0, performance.now() - (answered.get(id) ?? performance.now())));
        if (++delivered === watchers * events) allDelivered();
      }
    });
    streams.push(stream);
  }
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < events) {
      const id = `watched-${next++}`;
      const res = await fetch(`${url}/agents/register`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ agent_id: id, agent_name: id, host: '10.0.0.1', port: 8080, capabilities: ['watched'] }),
      });
      answered.set(id, performance.now());
      if (res.status !== 200) throw new Error(`registering ${id}: ${res.status}`);
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  const timeout = new Promise<void>((_, reject) =>
    setTimeout(() => reject(new Error(`only ${delivered} of ${watchers * events} events arrived`)), 60_000).unref(),
  );
  await Promise.race([done, timeout]);
  const seconds = (performance.now() - started) / 1000;
  for (const stream of streams) stream.destroy();
  delays.sort((a, b) => a - b);
  return {
    watchers,
    events,
    p50Ms: median(delays),
    p99Ms: delays[Math.floor(delays.length * 0.99)],
    maxMs: delays[delays.length - 1],
    deliveredPerSecond: delivered / seconds,
  };
}
