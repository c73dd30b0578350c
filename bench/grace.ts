import { MikroORM } from '@mikro-orm/core';
import autocannon from 'autocannon';
import { Server } from './harness';

/** Connections of the small fleet that heartbeats while the grace runs. */
const FLEET_CONNECTIONS = 10;
/** Rows one seeding statement inserts. */
const SEED_CHUNK = 20_000;
/** How long before the seeding started the watermark is set back: longer than RESTART_GRACE_AFTER (15 s). */
const GAP_MS = 60_000;

export interface HeartbeatFigures {
  rps: number;
  p50: number;
  p99: number;
  max: number;
  requests: number;
  failures: number;
}

/** The stall probe in the registry's process (see bench/stall-probe.ts): 'reset' starts a window, 'report' ends it. */
export type StallProbe = (message: 'reset' | 'report') => Promise<Stall>;
export interface Stall {
  stallMs: number;
  gcMs: number;
}

export interface GraceFigures {
  extended: number;
  seconds: number;
  /** The longest stall while the fleet heartbeated before the grace, and while the grace ran. */
  stallBefore: Stall;
  stallDuring: Stall;
  before: HeartbeatFigures;
  during: HeartbeatFigures;
}

/**
 * Inserts lapse-0 … lapse-(count-1) straight into agent_record, their leases run out at `expiresAt`: one
 * `INSERT … SELECT` of a recursive series per SEED_CHUNK rows, in the SQL both dialects speak.
 */
async function seedLapsed(orm: MikroORM, count: number, expiresAt: number): Promise<void> {
  for (let from = 0; from < count; from += SEED_CHUNK) {
    const to = Math.min(count, from + SEED_CHUNK);
    await orm.em
      .getConnection()
      .execute(
        `with recursive series(n) as (select ${from} union all select n + 1 from series where n + 1 < ${to}) ` +
          'insert into agent_record (agent_id, agent_name, host, port, ttl_seconds, capabilities, labels, ' +
          'search_name, search_text, registered_at, last_heartbeat, expires_at) ' +
          `select 'lapse-' || n, 'Agent lapse-' || n, '10.0.0.1', 8080, 60, '[]', '{}', 'agent lapse-' || n, ` +
          `'agent lapse-' || n, ${expiresAt - 60_000}, ${expiresAt - 60_000}, ${expiresAt} from series`,
        [],
        'run',
      );
    process.stdout.write('.');
  }
  process.stdout.write('\n');
}

/** Heartbeats for random agents among the lapsed ones, FLEET_CONNECTIONS at a time, until `until` resolves. */
function heartbeatWhile(url: string, agents: number, until: Promise<unknown>): Promise<HeartbeatFigures> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        connections: FLEET_CONNECTIONS,
        duration: 3600,
        requests: [
          {
            method: 'POST',
            setupRequest: (req) => ({ ...req, path: `/agents/lapse-${Math.floor(Math.random() * agents)}/heartbeat` }),
          },
        ],
      },
      (error, result) => {
        if (error) return reject(error instanceof Error ? error : new Error(String(error)));
        resolve({
          rps: result.requests.average,
          p50: result.latency.p50,
          p99: result.latency.p99,
          max: result.latency.max,
          requests: result.requests.total,
          failures: result.non2xx + result.errors + result.timeouts,
        });
      },
    );
    void until.finally(() => instance.stop());
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The restart grace over `lapsed` leases that ran out while "no replica served", on a running registry (restart
 * grace on, the cleanup off, so that nothing removes them before): the leases are inserted with their expiry in the
 * past, and the watermark set back before them, as after an outage of the database. The registry's next look (every
 * 5 s) extends them; the run waits for it to log that it is done. A small fleet heartbeats random lapsed agents
 * meanwhile, and for `baselineSeconds` before it (the same load with no grace running). The stall probe measures
 * both windows, the second from the moment the watermark is set back.
 */
export async function graceOverLapsed(
  server: Server,
  orm: MikroORM,
  lapsed: number,
  baselineSeconds: number,
  probe: StallProbe,
): Promise<GraceFigures> {
  const seeded = Date.now();
  console.log(`Inserting ${lapsed} agents whose leases ran out …`);
  await seedLapsed(orm, lapsed, seeded - 1000);
  await probe('reset');
  const before = await heartbeatWhile(server.url, lapsed, sleep(baselineSeconds * 1000));
  const stallBefore = await probe('report');

  console.log(`Setting the watermark back; the registry's next look extends ${lapsed} leases …`);
  const done = /Restart grace done: extended (\d+) lease\(s\)[^\n]* in ([\d.]+) s/;
  let match: RegExpExecArray | null = null;
  const finished = (async () => {
    while (!(match = done.exec(server.output()))) await sleep(100);
  })();
  await probe('reset');
  await orm.em
    .getConnection()
    .execute('update registry_watermark set seen_at = ? where id = 1', [seeded - GAP_MS], 'run');
  // The fleet's heartbeats are measured from the moment the registry starts extending.
  while (!/extending the leases that ran out meanwhile/.test(server.output())) await sleep(20);
  const during = await heartbeatWhile(server.url, lapsed, finished);
  const stallDuring = await probe('report');
  const [, extended, seconds] = match!;
  return { extended: Number(extended), seconds: Number(seconds), before, during, stallBefore, stallDuring };
}
