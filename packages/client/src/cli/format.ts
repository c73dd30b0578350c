import type { AgentEvent, AgentInfo } from '../index.js';
import type { components } from '../openapi.js';

/** Rows as aligned columns, two spaces apart, no trailing spaces. */
export function columns(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd(),
  );
}

/** A word as a POSIX shell reads it back: as it is when it is plain, in single quotes otherwise. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A span for a person: `45s`, `4m5s`, `3h5m`, `2d3h`; never negative (clocks disagree a little). */
export function duration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  const [d, h, m, s] = [
    Math.floor(seconds / 86400),
    Math.floor(seconds / 3600) % 24,
    Math.floor(seconds / 60) % 60,
    seconds % 60,
  ];
  if (d > 0) return `${d}d${h > 0 ? `${h}h` : ''}`;
  if (h > 0) return `${h}h${m > 0 ? `${m}m` : ''}`;
  if (m > 0) return `${m}m${s > 0 ? `${s}s` : ''}`;
  return `${s}s`;
}

/** `host:port`, with an IPv6 address in brackets. */
export function address(agent: Pick<AgentInfo, 'host' | 'port'>): string {
  return agent.host.includes(':') ? `[${agent.host}]:${agent.port}` : `${agent.host}:${agent.port}`;
}

/** The agents as `agent-registry list` shows them, header first; times relative to `now` (epoch ms). */
export function agentTable(agents: AgentInfo[], now: number): string[] {
  const header = ['ID', 'NAME', 'ADDRESS', 'CAPABILITIES', 'STATE', 'HEARTBEAT', 'EXPIRES'];
  return columns([
    header,
    ...agents.map((agent) => {
      const expiresIn = Date.parse(agent.expires_at) - now;
      return [
        agent.agent_id,
        agent.agent_name,
        address(agent),
        agent.capabilities.length > 0 ? agent.capabilities.join(',') : '-',
        agent.is_alive ? 'alive' : 'expired',
        `${duration(now - Date.parse(agent.last_heartbeat))} ago`,
        agent.is_alive ? `in ${duration(expiresIn)}` : `${duration(-expiresIn)} ago`,
      ];
    }),
  ]);
}

/**
 * One change as `agent-registry watch` shows it: when, what, which agent, and for a registration or an update where
 * it lives and what it can do. An agent that left the watch's filters is marked, as it is gone from the view.
 */
export function eventLine(event: AgentEvent): string {
  const fields = [event.at, event.type.padEnd(12), event.agent_id];
  if (event.agent) {
    const { agent } = event;
    fields.push(agent.agent_name, address(agent), agent.capabilities.join(',') || '-');
    if (!event.matches) fields.push('(no longer matches)');
  }
  return fields.join('  ');
}

type HealthDocument = components['schemas']['HealthResponse'] | components['schemas']['UnhealthyResponse'];

/** `GET /health`'s answer in a line; a 503 that is not a health document (shutting down) says its detail. */
export function healthLine(body: Partial<HealthDocument> & { detail?: string }): string {
  if (body.status === 'healthy' || body.status === 'degraded') {
    const { registered_agents, active_agents, expiry_guard } = body as components['schemas']['HealthResponse'];
    const counts = `${body.status}: database ${body.database}, ${registered_agents} agents registered, ${active_agents} alive`;
    return expiry_guard
      ? `${counts}; the mass-expiry guard holds cleanup since ${expiry_guard.since}: ${expiry_guard.reason}`
      : counts;
  }
  if (typeof body.status === 'string') return `${body.status}: database ${body.database}: ${body.detail}`;
  return `not healthy: ${body.detail ?? 'no detail'}`;
}

/** A terminus readiness document (`GET /health/ready`) in a line: `ready: database up`. */
export function readinessLine(body: {
  status?: unknown;
  details?: Record<string, { status?: string; message?: string }>;
  detail?: string;
}): string {
  const verdict = body.status === 'ok' ? 'ready' : 'not ready';
  if (body.details === undefined) return `${verdict}: ${body.detail ?? 'no detail'}`;
  const checks = Object.entries(body.details).map(
    ([name, check]) => `${name} ${check.status}${check.message ? ` (${check.message})` : ''}`,
  );
  return `${verdict}: ${checks.join(', ') || 'no checks'}`;
}
