import { ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, writeFileSync } from 'node:fs';
import { AddressInfo, createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { tempDir } from './temp-dir';

/** A scrape target as Prometheus' `/api/v1/targets` lists it. */
export interface PrometheusTarget {
  /** After relabelling: `job`, `instance` and the SD labels whose names do not start with `__`. */
  labels: Record<string, string>;
  /** As the SD endpoint gave them, plus Prometheus' own `__address__`, `__scheme__`, `__meta_url`… */
  discoveredLabels: Record<string, string>;
  scrapeUrl: string;
  scrapePool: string;
  health: 'up' | 'down' | 'unknown';
}

/** One series of an instant query's answer (`resultType: vector`). */
export interface PrometheusSample {
  metric: Record<string, string>;
  /** The sample's time (seconds) and its value, as text. */
  value: [number, string];
}

export interface PrometheusServer {
  url: string;
  activeTargets(): Promise<PrometheusTarget[]>;
  /** Evaluates a PromQL instant query through `/api/v1/query`. */
  query(promql: string): Promise<PrometheusSample[]>;
  /** Everything the process wrote so far (it logs to stderr), for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

export interface PrometheusOptions {
  /** The HTTP SD endpoint (`http_sd_configs[].url`) of the job `agents`. */
  sdUrl?: string;
  /** Any positive duration works; Prometheus 2.42 accepts 0 in the config but then panics at startup. */
  refreshSeconds?: number;
  /** How often the job `agents` scrapes its targets (Prometheus duration); the global 10 s by default. */
  agentsScrapeInterval?: string;
  /** A metrics endpoint the job `registry` scrapes every second, with a bearer token if given. */
  scrape?: { url: string; bearerToken?: string };
}

const READY_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;
const OUTPUT_LIMIT = 8_000;

/** The `prometheus` binary on PATH (Debian's package puts it in /usr/bin), or undefined when it is not installed. */
export function prometheusBinary(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir || '.', 'prometheus');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this PATH entry.
    }
  }
  return undefined;
}

/**
 * A real Prometheus on a free loopback port, with a scrape job `agents` that discovers its targets from `sdUrl`
 * and/or a job `registry` that scrapes `scrape.url`, its config and TSDB in a temp folder that `stop()` removes.
 * Resolves once `/-/ready` answers 200.
 */
export async function startPrometheus({
  sdUrl,
  refreshSeconds = 1,
  agentsScrapeInterval,
  scrape,
}: PrometheusOptions): Promise<PrometheusServer> {
  const binary = prometheusBinary();
  if (!binary) throw new Error('prometheus is not installed (apt-get install prometheus)');
  if (!(refreshSeconds > 0)) throw new Error(`refreshSeconds must be positive, got ${refreshSeconds}`);

  const { dir, remove } = tempDir();
  const configFile = join(dir, 'prometheus.yml');
  // JSON is YAML, so no YAML library and no quoting rules to get wrong.
  const scrapeConfigs: object[] = [];
  if (sdUrl) {
    scrapeConfigs.push({
      job_name: 'agents',
      ...(agentsScrapeInterval ? { scrape_interval: agentsScrapeInterval, scrape_timeout: agentsScrapeInterval } : {}),
      http_sd_configs: [{ url: sdUrl, refresh_interval: `${Math.max(1, Math.round(refreshSeconds * 1000))}ms` }],
    });
  }
  if (scrape) {
    const target = new URL(scrape.url);
    scrapeConfigs.push({
      job_name: 'registry',
      scrape_interval: '1s',
      scrape_timeout: '1s',
      metrics_path: target.pathname,
      static_configs: [{ targets: [target.host] }],
      ...(scrape.bearerToken ? { authorization: { type: 'Bearer', credentials: scrape.bearerToken } } : {}),
    });
  }
  const config = {
    // Discovery is what the SD tests look at; scraping the agents is a side effect, so keep it infrequent.
    global: { scrape_interval: '10s', evaluation_interval: '1m' },
    scrape_configs: scrapeConfigs,
  };
  writeFileSync(configFile, JSON.stringify(config, null, 2));

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    binary,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // Startup and warnings only; errors still reach output() for failure messages.
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const collect = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-OUTPUT_LIMIT));
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = exitOf(child);
  let exit: string | undefined;
  void exited.then((how) => (exit = how));

  const stop = async () => {
    if (exit === undefined) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(killer);
    }
    remove();
  };

  const state = await waitFor(
    async () => {
      if (exit !== undefined) return 'exited';
      const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) }).catch(() => undefined);
      await res?.text();
      return res?.status === 200 ? 'ready' : undefined;
    },
    READY_TIMEOUT_MS,
    'Prometheus to be ready',
  ).catch(() => 'not ready');
  if (state !== 'ready') {
    await stop();
    const how = exit ? `exited (${exit})` : `not ready after ${READY_TIMEOUT_MS} ms`;
    throw new Error(`prometheus ${how} on ${url}; its output ends with:\n${output.slice(-2_000)}`);
  }

  return {
    url,
    activeTargets: async () => {
      const res = await fetch(`${url}/api/v1/targets?state=active`, { signal: AbortSignal.timeout(5_000) });
      const body = (await res.json()) as { status: string; data?: { activeTargets: PrometheusTarget[] } };
      if (res.status !== 200 || body.status !== 'success' || !body.data) {
        throw new Error(`/api/v1/targets answered ${res.status}: ${JSON.stringify(body)}`);
      }
      return body.data.activeTargets;
    },
    query: async (promql) => {
      const res = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: promql }).toString()}`, {
        signal: AbortSignal.timeout(5_000),
      });
      const body = (await res.json()) as { status: string; data?: { resultType: string; result: PrometheusSample[] } };
      if (res.status !== 200 || body.status !== 'success' || body.data?.resultType !== 'vector') {
        throw new Error(`/api/v1/query answered ${res.status}: ${JSON.stringify(body)}`);
      }
      return body.data.result;
    },
    output: () => output,
    stop,
  };
}

/**
 * Calls `probe` every 100 ms until it gives something other than undefined, and returns that. A probe that throws
 * counts as "not yet" (a server still starting refuses connections); the last error is in the timeout message.
 */
export async function waitFor<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  what = 'a condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const reason = lastError instanceof Error ? lastError.message : JSON.stringify(lastError);
  const cause = lastError === undefined ? '' : ` (last error: ${reason})`;
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
}

/** A port the OS just handed out and released; Prometheus binds it a moment later. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function exitOf(child: ChildProcess): Promise<string> {
  return new Promise((resolve) => {
    child.once('error', (error) => resolve(error.message));
    child.once('exit', (code, signal) => resolve(signal ?? `code ${code}`));
  });
}
