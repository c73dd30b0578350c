import { register } from 'prom-client';
import request from 'supertest';
import { CleanupJob } from '../src/scheduler/cleanup.job';
import { onEachDatabase } from './support/databases';
import { listeningUrl, openEventStream } from './support/event-stream';
import { MetricSample, parseMetrics, sampleValue } from './support/metrics';
import { prometheusBinary, PrometheusServer, startPrometheus, waitFor } from './support/prometheus';
import { agent, createTestApp, TestApp } from './support/test-app';

/**
 * GET /metrics over the real app. prom-client keeps one registry per process and the tests build many apps in one,
 * so counters and histograms are read as what changed across an action; the gauges read per scrape (agents by state,
 * the writer's queue) are this app's own.
 */
describe.each(onEachDatabase())('GET /metrics (HTTP + %s)', (dialect) => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp({}, dialect);
  });
  afterEach(async () => {
    await t.close();
  });

  const scrape = async (): Promise<MetricSample[]> => {
    const res = await request(t.server).get('/metrics').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; (charset=utf-8; )?version=0\.0\.4/);
    return parseMetrics(res.text);
  };
  const register_ = (id: string, fields: Record<string, unknown> = {}) =>
    request(t.server).post('/agents/register').send(agent(id, fields)).expect(200);
  /** What an action changed in the samples named: after minus before (a missing sample counts as 0). */
  const changeOf = async (action: () => Promise<unknown>, ...questions: [string, Record<string, string>?][]) => {
    const before = await scrape();
    await action();
    const after = await scrape();
    return questions.map(
      ([name, labels]) => (sampleValue(after, name, labels) ?? 0) - (sampleValue(before, name, labels) ?? 0),
    );
  };

  it('counts registrations, heartbeats and deregistrations, and the agents by state', async () => {
    const changes = await changeOf(
      async () => {
        await register_('steady', { ttl_seconds: 60 });
        await register_('fading', { ttl_seconds: 5 });
        await register_('leaving', { ttl_seconds: 60 });
        await register_('steady', { ttl_seconds: 60, port: 8081 });
        await request(t.server).post('/agents/steady/heartbeat').expect(200);
        await request(t.server).post('/agents/steady/heartbeat').expect(200);
        // Refused writes are not counted.
        await request(t.server).post('/agents/nobody/heartbeat').expect(404);
        await request(t.server).delete('/agents/leaving').expect(200);
        await request(t.server).delete('/agents/leaving').expect(404);
      },
      ['agent_registry_registrations_total'],
      ['agent_registry_heartbeats_total'],
      ['agent_registry_deregistrations_total'],
    );
    expect(changes).toEqual([4, 2, 1]);

    t.clock.advance(10_000); // 'fading' ran out 5 s ago
    const samples = await scrape();
    expect(sampleValue(samples, 'agent_registry_agents', { state: 'alive' })).toBe(1);
    expect(sampleValue(samples, 'agent_registry_agents', { state: 'expired' })).toBe(1);
  });

  it('reports each cleanup run: its duration, the agents it removed, and the expirations', async () => {
    await register_('fading-1', { ttl_seconds: 5 });
    await register_('fading-2', { ttl_seconds: 5 });
    await register_('steady', { ttl_seconds: 60 });
    t.clock.advance(10_000);
    let removed: string[] | undefined;
    const [expirations, runs, failed] = await changeOf(
      async () => (removed = await t.app.get(CleanupJob).run()),
      ['agent_registry_expirations_total'],
      ['agent_registry_cleanup_duration_seconds_count', { result: 'ok' }],
      ['agent_registry_cleanup_duration_seconds_count', { result: 'failed' }],
    );
    expect(removed?.sort()).toEqual(['fading-1', 'fading-2']);
    expect([expirations, runs, failed]).toEqual([2, 1, 0]);
    const samples = await scrape();
    expect(sampleValue(samples, 'agent_registry_cleanup_removed_agents')).toBe(2);
    expect(sampleValue(samples, 'agent_registry_agents', { state: 'expired' })).toBe(0);
    expect(sampleValue(samples, 'agent_registry_agents', { state: 'alive' })).toBe(1);

    // A run with nothing to remove says so.
    await t.app.get(CleanupJob).run();
    expect(sampleValue(await scrape(), 'agent_registry_cleanup_removed_agents')).toBe(0);
  });

  it('times every request by method, route template and status, never by the path itself', async () => {
    await register_('known');
    const count = 'agent_registry_http_request_duration_seconds_count';
    const heartbeat = { method: 'POST', route: '/agents/:agent_id/heartbeat' };
    const changes = await changeOf(
      async () => {
        await request(t.server).post('/agents/known/heartbeat').expect(200);
        await request(t.server).post('/agents/known/heartbeat').expect(200);
        await request(t.server).post('/agents/nobody-known/heartbeat').expect(404);
        await request(t.server).post('/agents/register').send({ agent_id: 'x' }).expect(400);
        await request(t.server).get('/agents/known').expect(200);
        await request(t.server).get('/no-such-route/probe-1').expect(404);
        await request(t.server).get('/no-such-route/probe-2').expect(404);
      },
      [count, { ...heartbeat, status: '200' }],
      [count, { ...heartbeat, status: '404' }],
      [count, { method: 'POST', route: '/agents/register', status: '400' }],
      [count, { method: 'GET', route: '/agents/:agent_id', status: '200' }],
      [count, { method: 'GET', route: 'unmatched', status: '404' }],
    );
    expect(changes).toEqual([2, 1, 1, 1, 2]);

    const samples = await scrape();
    const routes = new Set(
      samples.filter((s) => s.name.startsWith('agent_registry_http_request')).map((s) => s.labels.route),
    );
    expect([...routes].filter((route) => /known|probe/.test(route))).toEqual([]);
    // A histogram: its +Inf bucket holds every observation.
    const okHeartbeats = { ...heartbeat, status: '200' };
    expect(
      sampleValue(samples, 'agent_registry_http_request_duration_seconds_bucket', { ...okHeartbeats, le: '+Inf' }),
    ).toBe(sampleValue(samples, count, okHeartbeats));
  });

  it('reports the group-commit writer: how many writes each transaction took, and the queue', async () => {
    const [writes, batches] = await changeOf(
      () => Promise.all(Array.from({ length: 24 }, (_, i) => register_(`burst-${i}`))),
      ['agent_registry_write_batch_size_sum'],
      ['agent_registry_write_batch_size_count'],
    );
    // Every committed write is in exactly one batch (how they group depends on timing; registry-writer tests that).
    expect(writes).toBe(24);
    expect(batches).toBeGreaterThanOrEqual(1);
    expect(batches).toBeLessThanOrEqual(24);
    expect(sampleValue(await scrape(), 'agent_registry_write_queue_depth')).toBe(0);
  });

  it('counts the watch streams open, and those the registry ended', async () => {
    const subscribers = async () => sampleValue(await scrape(), 'agent_registry_watch_subscribers');
    const requests = 'agent_registry_http_request_duration_seconds_count';
    const streams = 'agent_registry_watch_duration_seconds_count';
    const [streamRequests, refused, clientClosed] = await changeOf(
      async () => {
        const stream = await openEventStream(t.server, '/events');
        expect(stream.status).toBe(200);
        await waitFor(async () => ((await subscribers()) === 1 ? true : undefined), 5_000, 'one subscriber');
        stream.close();
        await waitFor(async () => ((await subscribers()) === 0 ? true : undefined), 5_000, 'no subscriber');
        await request(t.server).get('/events?label=oops').expect(400);
      },
      [requests, { method: 'GET', route: '/events', status: '200' }],
      [requests, { method: 'GET', route: '/events', status: '400' }],
      [streams, { reason: 'client_closed' }],
    );
    // A stream is timed as a stream, never as a request (it would swamp the latencies); a refused one is a request.
    expect([streamRequests, refused, clientClosed]).toEqual([0, 1, 1]);

    // A client that hangs up is not "dropped"; one whose stream the registry ends is, with the reason.
    const shutdowns = async () => {
      const samples = parseMetrics(await register.metrics());
      return [
        sampleValue(samples, 'agent_registry_watch_dropped_total', { reason: 'shutdown' }) ?? 0,
        sampleValue(samples, streams, { reason: 'shutdown' }) ?? 0,
      ];
    };
    const before = await shutdowns();
    const open = await openEventStream(t.server, '/events');
    await waitFor(async () => ((await subscribers()) === 1 ? true : undefined), 5_000, 'one subscriber');
    await t.close();
    await open.ended;
    const after = await shutdowns();
    expect(after.map((value, i) => value - before[i])).toEqual([1, 1]);
    t = await createTestApp({}, dialect);
  });

  it('serves the process metrics and the guard state, and answers while the database is down', async () => {
    let samples = await scrape();
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
    ]) {
      expect(sampleValue(samples, name)).toBeGreaterThanOrEqual(0);
    }
    expect(sampleValue(samples, 'agent_registry_expiry_guard_engaged')).toBe(0);
    await register_('somebody');
    expect(sampleValue(await scrape(), 'agent_registry_agents', { state: 'alive' })).toBe(1);

    await t.orm.close(true);
    samples = await scrape();
    // Unknown, not stale: no count is better than an old one.
    expect(samples.filter((s) => s.name === 'agent_registry_agents')).toEqual([]);
    expect(sampleValue(samples, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
  });
});

describe('Prometheus scraping GET /metrics', () => {
  const READER = 'scraper-secret-0123456789';
  const ADMIN = { Authorization: 'Bearer ops-secret-0123456789' };
  let t: TestApp;
  let prometheus: PrometheusServer | undefined;
  afterEach(async () => {
    await prometheus?.stop();
    prometheus = undefined;
    await t.close();
  });

  // Debian's prometheus package: .ci/run installs it, and in CI a missing one fails the test instead of skipping it.
  const withPrometheus = prometheusBinary() || process.env.CI ? it : it.skip;
  withPrometheus(
    'a real Prometheus scrapes it with a reader key, and its API answers the registry values',
    async () => {
      t = await createTestApp({ REGISTRY_API_KEYS: `ops:admin:ops-secret-0123456789,scraper:reader:${READER}` });
      for (const id of ['planner', 'booker', 'fading']) {
        const ttl_seconds = id === 'fading' ? 5 : 60;
        await request(t.server).post('/agents/register').set(ADMIN).send(agent(id, { ttl_seconds })).expect(200);
      }
      t.clock.advance(10_000);
      // Without the key, /metrics is closed.
      await request(t.server).get('/metrics').expect(401);
      prometheus = await startPrometheus({
        scrape: { url: `${await listeningUrl(t.server)}/metrics`, bearerToken: READER },
      });

      const server = prometheus;
      const valueOf = async (promql: string) => {
        const [sample] = await server.query(promql);
        return sample?.value[1];
      };
      // Prometheus scrapes every second; the first scrape may take a moment.
      await waitFor(
        async () => ((await valueOf('up{job="registry"}')) === '1' ? true : undefined),
        20_000,
        'up == 1',
      ).catch((error: Error) => {
        throw new Error(`${error.message}\nprometheus output:\n${server.output()}`);
      });
      expect(await valueOf('agent_registry_agents{job="registry",state="alive"}')).toBe('2');
      expect(await valueOf('agent_registry_agents{job="registry",state="expired"}')).toBe('1');
      expect(Number(await valueOf('agent_registry_registrations_total{job="registry"}'))).toBeGreaterThanOrEqual(3);
      const registered = await valueOf(
        'sum(agent_registry_http_request_duration_seconds_count{job="registry",route="/agents/register",status="200"})',
      );
      expect(Number(registered)).toBeGreaterThanOrEqual(3);
    },
    60_000,
  );
});
