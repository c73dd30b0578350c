import request from 'supertest';
import { onEachDatabase } from './support/databases';
import { listeningUrl } from './support/event-stream';
import { prometheusBinary, PrometheusServer, startPrometheus, waitFor } from './support/prometheus';
import { agent, createTestApp, TestApp } from './support/test-app';

describe.each(onEachDatabase())('Prometheus service discovery: GET /sd/prometheus (HTTP + %s)', (dialect) => {
  let t: TestApp;
  let prometheus: PrometheusServer | undefined;

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
});
