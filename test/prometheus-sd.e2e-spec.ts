import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import request from 'supertest';
import { EXAMPLE_AGENT_CARD } from '../src/registry/agent-card';
import { registrationOf } from '../src/registry/persistence/agent-rows';
import { AgentInfo } from '../src/registry/dto/agent-info.dto';
import { RegistryWriter } from '../src/registry/persistence/registry-writer';
import { LIST_CHUNK } from '../src/registry/agent-list';
import { targetGroupOf } from '../src/service-discovery/prometheus-sd';
import { onEachDatabase } from './support/databases';
import { listeningUrl } from './support/event-stream';
import { prometheusBinary, PrometheusServer, startPrometheus, waitFor } from './support/prometheus';
import { agent, createTestApp, TestApp } from './support/test-app';

describe.each(onEachDatabase())('Prometheus service discovery: GET /sd/prometheus (HTTP + %s)', (dialect) => {
  let t: TestApp;
  let prometheus: PrometheusServer | undefined;
  let exporter: Server | undefined;

  beforeEach(async () => {
    t = await createTestApp({}, dialect);
    await request(t.server)
      .post('/agents/register')
      .send(
        agent('planner', { host: '127.0.0.1', port: 9101, capabilities: ['plan'], labels: { 'team.name': 'trips' } }),
      )
      .expect(200);
    await request(t.server)
      .post('/agents/register')
      .send(agent('booker', { host: '127.0.0.1', port: 9102, capabilities: ['book'] }))
      .expect(200);
    await request(t.server)
      .post('/agents/register')
      .send(agent('short', { host: '127.0.0.1', port: 9103, capabilities: ['plan'], ttl_seconds: 1 }))
      .expect(200);
    t.clock.advance(2_000); // 'short' is no longer alive
  });

  afterEach(async () => {
    await prometheus?.stop();
    prometheus = undefined;
    if (exporter) await new Promise((resolve) => exporter!.close(resolve));
    exporter = undefined;
    await t.close();
  });

  it('lists the live agents that match the filters as target groups', async () => {
    const res = await request(t.server).get('/sd/prometheus?capability=plan').expect(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual([
      {
        targets: ['127.0.0.1:9101'],
        labels: {
          team_name: 'trips',
          agent_id: 'planner',
          agent_name: 'Agent planner',
          __meta_agent_capabilities: ',plan,',
        },
      },
    ]);
    expect((await request(t.server).get('/sd/prometheus').expect(200)).body).toHaveLength(2);
    const bad = await request(t.server).get('/sd/prometheus?label=oops').expect(400);
    expect(bad.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  it('more than LIST_CHUNK agents: streamed in chunks, the same JSON text as the whole array', async () => {
    const writer = t.app.get(RegistryWriter);
    const ids = Array.from({ length: 2 * LIST_CHUNK + 37 }, (_, i) => `sd-${String(i).padStart(4, '0')}`);
    await Promise.all(
      ids.map((agentId, i) =>
        writer.register(
          registrationOf({
            agentId,
            agentName: `Agent ${agentId}`,
            host: i % 3 ? '10.0.0.1' : '::1',
            port: 8000 + i,
            ttlSeconds: 60,
            capabilities: ['plan'],
            labels: { zone: `z${i % 3}`, 'prometheus.io/port': i % 2 ? '9100' : 'no' },
            agentCard: { ...EXAMPLE_AGENT_CARD, name: agentId },
          }),
        ),
      ),
    );
    const res = await request(t.server).get('/sd/prometheus').buffer(true).expect(200);
    // One page (limit=1000 > all of them) is the whole array, as the adapters serialise it.
    const agents = (await request(t.server).get('/agents?limit=1000').expect(200)).body as AgentInfo[];
    expect(agents.length).toBe(ids.length + 2);
    expect(res.text).toBe(JSON.stringify(agents.map(targetGroupOf)));
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.headers['transfer-encoding']).toBe('chunked');
  });

  it('registers any scrape label value, and passes one Prometheus could not use on as a plain label', async () => {
    // Labels were free-form before these meant anything: an agent that registered with such values keeps registering.
    for (const [key, value] of [
      ['prometheus.io/port', '0'],
      ['prometheus.io/port', '65536'],
      ['prometheus.io/port', '9100 '],
      ['prometheus.io/port', '+91'],
      ['prometheus.io/path', 'metrics'],
      ['prometheus.io/path', '/metrics?x=1'],
      ['prometheus.io/path', '/a b'],
      ['prometheus.io/scheme', 'ftp'],
    ]) {
      await request(t.server)
        .post('/agents/register')
        .send(agent('odd', { host: '127.0.0.1', port: 9105, capabilities: ['odd'], labels: { [key]: value } }))
        .expect(200);
      const [group] = (await request(t.server).get('/sd/prometheus?capability=odd').expect(200)).body;
      expect({ key, value, group }).toEqual({
        key,
        value,
        group: {
          targets: ['127.0.0.1:9105'],
          labels: {
            [key.replace(/[./]/g, '_')]: value,
            agent_id: 'odd',
            agent_name: 'Agent odd',
            __meta_agent_capabilities: ',odd,',
          },
        },
      });
    }
  });

  it('gives the scrape labels to Prometheus as the target port, __metrics_path__ and __scheme__', async () => {
    await request(t.server)
      .post('/agents/register')
      .send(
        agent('exported', {
          host: '127.0.0.1',
          port: 9105,
          capabilities: ['metrics'],
          labels: { 'prometheus.io/port': '9200', 'prometheus.io/path': '/internal/metrics', zone: 'a' },
        }),
      )
      .expect(200);
    const res = await request(t.server).get('/sd/prometheus?capability=metrics').expect(200);
    expect(res.body).toEqual([
      {
        targets: ['127.0.0.1:9200'],
        labels: {
          zone: 'a',
          agent_id: 'exported',
          agent_name: 'Agent exported',
          __meta_agent_capabilities: ',metrics,',
          __metrics_path__: '/internal/metrics',
        },
      },
    ]);
  });

  // Debian's prometheus package: .ci/run installs it, and in CI a missing one fails the test instead of skipping it.
  const withPrometheus = prometheusBinary() || process.env.CI ? it : it.skip;
  withPrometheus(
    'a real Prometheus pointed at it with http_sd_configs lists the registered agents as targets',
    async () => {
      const url = await listeningUrl(t.server);
      prometheus = await startPrometheus({ sdUrl: `${url}/sd/prometheus?capability=plan&capability=plan` });
      const targets = await waitFor(
        async () => {
          const active = await prometheus!.activeTargets();
          return active.length > 0 ? active : undefined;
        },
        20_000,
        'Prometheus to discover the agents',
      );
      expect(targets.map((target) => target.labels)).toEqual([
        {
          agent_id: 'planner',
          agent_name: 'Agent planner',
          team_name: 'trips',
          instance: '127.0.0.1:9101',
          job: 'agents',
        },
      ]);
      expect(targets[0].discoveredLabels.__meta_agent_capabilities).toBe(',plan,');
    },
    40_000,
  );

  withPrometheus(
    "a real Prometheus scrapes the port and path an agent's scrape labels announce, with its scheme",
    async () => {
      // The agent's metrics, on a port and path of their own: its registered port has nothing listening.
      const scraped: string[] = [];
      exporter = createServer((req, res) => {
        scraped.push(req.url ?? '');
        if (req.url !== '/internal/metrics') return void res.writeHead(404).end();
        res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' }).end('agent_probe_answers 42\n');
      });
      await new Promise<void>((resolve) => exporter!.listen(0, '127.0.0.1', resolve));
      const metricsPort = (exporter.address() as AddressInfo).port;
      for (const [id, labels] of [
        ['exported', { 'prometheus.io/port': String(metricsPort), 'prometheus.io/path': '/internal/metrics' }],
        ['secure', { 'prometheus.io/scheme': 'https', 'prometheus.io/port': '9443' }],
      ] as const) {
        await request(t.server)
          .post('/agents/register')
          .send(agent(id, { host: '127.0.0.1', port: 9105, capabilities: ['metrics'], labels }))
          .expect(200);
      }

      const url = await listeningUrl(t.server);
      prometheus = await startPrometheus({
        sdUrl: `${url}/sd/prometheus?capability=metrics`,
        agentsScrapeInterval: '1s',
      });
      const server = prometheus;
      const [answers] = await waitFor(
        async () => {
          const samples = await server.query('agent_probe_answers{job="agents"}');
          return samples.length > 0 ? samples : undefined;
        },
        30_000,
        "Prometheus to scrape the agent's metrics",
      ).catch((error: Error) => {
        throw new Error(`${error.message}\nprometheus output:\n${server.output()}`);
      });
      expect(answers.metric).toEqual({
        __name__: 'agent_probe_answers',
        agent_id: 'exported',
        agent_name: 'Agent exported',
        instance: `127.0.0.1:${metricsPort}`,
        job: 'agents',
      });
      expect(answers.value[1]).toBe('42');
      expect(new Set(scraped)).toEqual(new Set(['/internal/metrics']));

      const targets = await server.activeTargets();
      const scrapeUrls = Object.fromEntries(targets.map((target) => [target.labels.agent_id, target.scrapeUrl]));
      expect(scrapeUrls).toEqual({
        exported: `http://127.0.0.1:${metricsPort}/internal/metrics`,
        secure: 'https://127.0.0.1:9443/metrics',
      });
    },
    60_000,
  );
});
