import { AgentInfo } from '../registry/dto/agent-info.dto';
import { prometheusLabelName, targetGroupOf } from './prometheus-sd';

const agent = (fields: Partial<AgentInfo>): AgentInfo => ({
  agent_id: 'a',
  agent_name: 'A',
  host: '10.0.0.1',
  port: 8080,
  ttl_seconds: 60,
  metadata: null,
  capabilities: [],
  labels: {},
  agent_card: null,
  registered_at: '',
  last_heartbeat: '',
  expires_at: '',
  is_alive: true,
  ...fields,
});

describe('Prometheus service discovery', () => {
  it.each([
    ['region', 'region'],
    ['team.name/x-y', 'team_name_x_y'],
    ['9lives', '_9lives'],
    ['job', 'label_job'],
    ['instance', 'label_instance'],
    ['agent_id', 'label_agent_id'],
  ])('label key %s is the Prometheus label %s', (key, name) => {
    expect(prometheusLabelName(key)).toBe(name);
    expect(name).toMatch(/^[a-zA-Z_][a-zA-Z0-9_]*$/);
  });

  it('makes a target of host:port, IPv6 in brackets, with the agent and its labels', () => {
    expect(targetGroupOf(agent({ labels: { 'a.b': '1', a_b: '2', job: 'x' }, capabilities: ['p', 'q'] }))).toEqual({
      targets: ['10.0.0.1:8080'],
      labels: {
        a_b: '1',
        label_job: 'x',
        agent_id: 'a',
        agent_name: 'A',
        __meta_agent_capabilities: ',p,q,',
      },
    });
    expect(targetGroupOf(agent({ labels: { constructor: 'c', toString: 't' } })).labels).toMatchObject({
      constructor: 'c',
      toString: 't',
    });
    expect(targetGroupOf(agent({ host: 'fd00::1' })).targets).toEqual(['[fd00::1]:8080']);
    expect(targetGroupOf(agent({ host: '[fd00::1]' })).targets).toEqual(['[fd00::1]:8080']);
  });

  it('scrapes the port, path and scheme the scrape labels give, and does not repeat them as labels', () => {
    const group = targetGroupOf(
      agent({
        host: 'fd00::1',
        labels: {
          'prometheus.io/port': '9100',
          'prometheus.io/path': '/internal/metrics',
          'prometheus.io/scheme': 'https',
          'prometheus.io/scrape': 'true',
        },
      }),
    );
    expect(group).toEqual({
      targets: ['[fd00::1]:9100'],
      labels: {
        prometheus_io_scrape: 'true',
        agent_id: 'a',
        agent_name: 'A',
        __meta_agent_capabilities: '',
        __metrics_path__: '/internal/metrics',
        __scheme__: 'https',
      },
    });
    // Values Prometheus could not use: the target keeps its defaults, and they show as plain labels.
    const odd = targetGroupOf(agent({ labels: { 'prometheus.io/port': '99999', 'prometheus.io/scheme': 'ftp' } }));
    expect(odd.targets).toEqual(['10.0.0.1:8080']);
    expect(odd.labels).not.toHaveProperty('__scheme__');
    expect(odd.labels).toMatchObject({ prometheus_io_port: '99999', prometheus_io_scheme: 'ftp' });
    // The scheme in any case.
    expect(targetGroupOf(agent({ labels: { 'prometheus.io/scheme': 'HTTPS' } })).labels).toMatchObject({
      __scheme__: 'https',
    });
  });
});
