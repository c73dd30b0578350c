import { AgentRecord } from './agent-record.entity';
import { registrationOf, toAgentInfo, toAgentJson } from './agent-rows';

describe('toAgentJson', () => {
  const now = Date.UTC(2026, 11, 7);
  const stored = (fields: Parameters<typeof registrationOf>[0], owner: string | null = null): AgentRecord => ({
    ...registrationOf(fields),
    owner,
    registeredAt: now - 60_000,
    lastHeartbeat: now - 1_000,
    expiresAt: now + 29_000,
  });
  const agents: AgentRecord[] = [
    stored({ agentId: 'plain', agentName: 'Plain', host: '10.0.0.1', port: 80, ttlSeconds: 30 }),
    stored(
      {
        agentId: 'odd-7',
        agentName: 'Ünïcode "quoted" \\ \u2028 \ud83d\ude80 lone \ud800 ctrl \u0001',
        host: '::1',
        port: 65535,
        ttlSeconds: 86400,
        metadata: '{"model":"gpt-5"}',
        capabilities: ['planning', 'ä', '__proto__'],
        labels: { region: 'eu-west-1', __proto__: 'x', 'prometheus.io/port': '9100', empty: '' },
        agentCard: {
          name: 'Odd',
          __proto__: { polluted: true },
          nested: { a: [1, -0, 1e21, 0.1, 5e-7, true, null, 'x\u0000y'], b: {} },
          url: 'https://example.com/a?b=c&d=e',
        } as never,
      },
      'planner-fleet',
    ),
    { ...stored({ agentId: 'expired', agentName: 'E', host: 'h', port: 1, ttlSeconds: 1 }), expiresAt: now },
    { ...stored({ agentId: 'empty-card', agentName: 'E', host: 'h', port: 1, ttlSeconds: 1 }), agentCard: '' },
  ];

  it.each(agents.map((agent) => [agent.agentId, agent] as const))(
    '%s: the same text as JSON.stringify of toAgentInfo, with and without owner',
    (_id, agent) => {
      for (const withOwner of [false, true]) {
        expect(toAgentJson(agent, now, withOwner)).toBe(JSON.stringify(toAgentInfo(agent, now, withOwner)));
      }
    },
  );
});
