import { AgentRecord } from '../registry/persistence/agent-record.entity';
import { toAgentInfo } from '../registry/persistence/agent-rows';
import { AgentInfo } from '../registry/dto/agent-info.dto';

/** One target group of Prometheus' HTTP service discovery. */
export interface PrometheusTargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

/**
 * Labels that tell Prometheus how to scrape an agent, named as the Kubernetes annotations that say the same: the port
 * of its metrics when it is not the agent's own, their path, and the scheme. Labels were free-form before these meant
 * anything, so registration does not check them (an agent that registered with `prometheus.io/path: metrics` keeps
 * registering); a value Prometheus could not use is passed on as an ordinary label instead, where the target's page in
 * Prometheus shows it.
 */
export const SCRAPE_LABELS = {
  port: 'prometheus.io/port',
  path: 'prometheus.io/path',
  scheme: 'prometheus.io/scheme',
} as const;

const PORT = /^[1-9]\d{0,4}$/;
// eslint-disable-next-line no-control-regex -- rejecting control characters is the point
const URL_PATH = /^\/[^\s?#\x00-\x1f\x7f]*$/;

/** Each scrape label's value as Prometheus takes it, or undefined when it could not use it. */
const SCRAPE_VALUES: Record<string, (value: string) => string | undefined> = {
  [SCRAPE_LABELS.port]: (value) => (PORT.test(value) && Number(value) <= 65535 ? value : undefined),
  [SCRAPE_LABELS.path]: (value) => (URL_PATH.test(value) ? value : undefined),
  [SCRAPE_LABELS.scheme]: (value) => (/^https?$/i.test(value) ? value.toLowerCase() : undefined),
};

/** Label names Prometheus or this endpoint already gives a meaning to: an agent's own label of that name is prefixed. */
const RESERVED = new Set(['job', 'instance', 'agent_id', 'agent_name']);

/** The scrape labels and the target labels Prometheus reads them from (it honours these from service discovery). */
const SCRAPE_TARGET_LABELS: [string, string][] = [
  [SCRAPE_LABELS.path, '__metrics_path__'],
  [SCRAPE_LABELS.scheme, '__scheme__'],
];

/**
 * An agent as a Prometheus target: `host:port` (an IPv6 host in brackets), with `agent_id`, `agent_name`, the
 * agent's labels under Prometheus label names, and `__meta_agent_capabilities` (`,a,b,`, as Consul's tags) for
 * relabelling rules; Prometheus drops `__meta_` labels after relabelling. The scrape labels (SCRAPE_LABELS) that
 * Prometheus can use are not copied: `prometheus.io/port` replaces the port of the target, `prometheus.io/path` and
 * `prometheus.io/scheme` become `__metrics_path__` and `__scheme__`; one it could not use is an ordinary label.
 */
export function targetGroupOf(agent: AgentInfo): PrometheusTargetGroup {
  const host = agent.host.includes(':') && !agent.host.startsWith('[') ? `[${agent.host}]` : agent.host;
  const scrape = (key: string): string | undefined =>
    Object.hasOwn(SCRAPE_VALUES, key) && Object.hasOwn(agent.labels, key)
      ? SCRAPE_VALUES[key](agent.labels[key])
      : undefined;
  const labels: Record<string, string> = {};
  for (const key of Object.keys(agent.labels).sort()) {
    if (scrape(key) !== undefined) continue;
    const name = prometheusLabelName(key);
    // Two keys that differ only in characters Prometheus does not allow: the first, in key order, keeps the name.
    if (!Object.hasOwn(labels, name)) labels[name] = agent.labels[key];
  }
  labels.agent_id = agent.agent_id;
  labels.agent_name = agent.agent_name;
  labels.__meta_agent_capabilities = agent.capabilities.length > 0 ? `,${agent.capabilities.join(',')},` : '';
  for (const [key, name] of SCRAPE_TARGET_LABELS) {
    const value = scrape(key);
    if (value !== undefined) labels[name] = value;
  }
  return { targets: [`${host}:${scrape(SCRAPE_LABELS.port) ?? agent.port}`], labels };
}

/** A label key as a valid Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`, not reserved). */
export function prometheusLabelName(key: string): string {
  let name = key.replace(/[^a-zA-Z0-9_]/g, '_');
  if (/^[0-9]/.test(name)) name = `_${name}`;
  return RESERVED.has(name) ? `label_${name}` : name;
}

/** A stored agent's target group as JSON text (for a full list): its card is neither read nor parsed. */
export function targetGroupJson(record: AgentRecord, now: number): string {
  return JSON.stringify(targetGroupOf(toAgentInfo({ ...record, agentCard: null }, now)));
}
