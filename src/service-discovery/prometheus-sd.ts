import { SCRAPE_LABELS, scrapeLabelProblem } from '../registry/discovery';
import { AgentInfo } from '../registry/dto/agent-info.dto';

/** One target group of Prometheus' HTTP service discovery. */
export interface PrometheusTargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

/** Label names Prometheus or this endpoint already gives a meaning to: an agent's own label of that name is prefixed. */
const RESERVED = new Set(['job', 'instance', 'agent_id', 'agent_name']);

/** The scrape labels and the target labels Prometheus reads them from (it honours these from service discovery). */
const SCRAPE_TARGET_LABELS: [string, string][] = [
  [SCRAPE_LABELS.path, '__metrics_path__'],
  [SCRAPE_LABELS.scheme, '__scheme__'],
];
const SCRAPE_LABEL_KEYS = new Set<string>(Object.values(SCRAPE_LABELS));

/**
 * An agent as a Prometheus target: `host:port` (an IPv6 host in brackets), with `agent_id`, `agent_name`, the
 * agent's labels under Prometheus label names, and `__meta_agent_capabilities` (`,a,b,`, as Consul's tags) for
 * relabelling rules; Prometheus drops `__meta_` labels after relabelling. The scrape labels (SCRAPE_LABELS) are not
 * copied: `prometheus.io/port` replaces the port of the target, `prometheus.io/path` and `prometheus.io/scheme` become
 * `__metrics_path__` and `__scheme__`. A value that breaks their rule (stored before they were checked) is ignored.
 */
export function targetGroupOf(agent: AgentInfo): PrometheusTargetGroup {
  const host = agent.host.includes(':') && !agent.host.startsWith('[') ? `[${agent.host}]` : agent.host;
  const scrape = (key: string): string | undefined => {
    const value = Object.hasOwn(agent.labels, key) ? agent.labels[key] : undefined;
    return value !== undefined && scrapeLabelProblem(key, value) === undefined ? value : undefined;
  };
  const labels: Record<string, string> = {};
  for (const key of Object.keys(agent.labels).sort()) {
    if (SCRAPE_LABEL_KEYS.has(key)) continue;
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
