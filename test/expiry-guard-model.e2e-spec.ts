import fc from 'fast-check';
import { Principal } from '../src/auth/auth.guard';
import { ExpiryGuard } from '../src/scheduler/expiry-guard';
import { LeaseGrace } from '../src/scheduler/lease-grace';
import { RegistryService } from '../src/registry/registry.service';
import { CleanupJob } from '../src/scheduler/cleanup.job';
import { ExpiredAgents } from '../src/scheduler/expired-agents';
import { caseSeed } from './support/case-deadline';
import { onEachDatabase } from './support/databases';
import { createTestApp, TestApp } from './support/test-app';

/**
 * A model of the fleet against the real guard, cleanup and database, on the injected clock: random fleets (some keys'
 * and some nobody's), TTLs, heartbeat rhythms (some slower than their TTL), partitions of some fleets for a while,
 * deaths, and a cleanup schedule whose runs complete, are skipped, or fail before or after the guard's check.
 * Invariants, after every run whose check completed (a group: one key's agents, or those nobody owns):
 *  - when at least EXPIRY_GUARD_MIN of a group's agents alive at the last completed check, and more than
 *    EXPIRY_GUARD_RATIO of them, are expired now, or as many of the registry's leaving out the group that lost the
 *    most, the guard is engaged (one key's hold or the whole registry's). The registry's count leaves that group
 *    out, so one key's own lapses cannot hold another key's fleet: a registry tripped only with it is not enough;
 *  - a key is held only while some of its own agents are expired, and the whole registry only while agents of at
 *    least two groups are.
 * GUARD_MODEL_RUNS sets the number of cases (20 by default: a few seconds per database).
 */
const RUNS = Number(process.env.GUARD_MODEL_RUNS ?? 20);
const MIN = 3;
const RATIO = 0.5;
const KEYS = ['fleet-a', 'fleet-b', 'fleet-c'];
const SECRET = 'secret-0123456789abcdef';
const UNOWNED = -1;

interface AgentPlan {
  /** Index into KEYS, or UNOWNED. */
  key: number;
  ttlMs: number;
  periodMs: number;
  startMs: number;
  /** Heartbeats stop for good at this share of the run's span. */
  diesAt?: number;
}

interface Plan {
  agents: AgentPlan[];
  /** Fleets (KEYS indexes, UNOWNED) that hear nothing for a while (shares of the run's span). */
  partition?: { keys: number[]; from: number; to: number };
  cleanupEveryMs: number;
  runs: ('ok' | 'skipped' | 'failsBeforeCheck' | 'failsAfterCheck')[];
}

const agentPlan = fc
  .record({
    key: fc.integer({ min: UNOWNED, max: KEYS.length - 1 }),
    ttlS: fc.oneof(fc.constantFrom(5, 30, 60, 180, 600), fc.integer({ min: 5, max: 600 })),
    // Heartbeats every ttl/4 up to every 1.5 ttl (an agent that lapses between its heartbeats).
    rhythm: fc.constantFrom(0.25, 1 / 3, 0.5, 0.9, 1.5),
    phase: fc.double({ min: 0, max: 0.99, noNaN: true }),
    diesAt: fc.option(fc.double({ min: 0.1, max: 1, noNaN: true }), { nil: undefined, freq: 3 }),
  })
  .map(({ key, ttlS, rhythm, phase, diesAt }): AgentPlan => {
    const periodMs = Math.max(1000, Math.round(ttlS * 1000 * rhythm));
    return { key, ttlMs: ttlS * 1000, periodMs, startMs: Math.floor(phase * periodMs), diesAt };
  });

const plans: fc.Arbitrary<Plan> = fc.record({
  agents: fc.array(agentPlan, { minLength: 3, maxLength: 24 }),
  partition: fc.option(
    fc
      .record({
        keys: fc.subarray([UNOWNED, 0, 1, 2], { minLength: 2 }),
        from: fc.double({ min: 0.1, max: 0.9, noNaN: true }),
        length: fc.double({ min: 0.2, max: 1, noNaN: true }),
      })
      .map(({ keys, from, length }) => ({ keys, from, to: from + length })),
    { nil: undefined, freq: 9 },
  ),
  cleanupEveryMs: fc.oneof(fc.constantFrom(10, 60, 300), fc.integer({ min: 5, max: 900 })).map((s) => s * 1000),
  runs: fc.array(
    fc.oneof(
      { weight: 12, arbitrary: fc.constant('ok' as const) },
      { weight: 3, arbitrary: fc.constant('skipped' as const) },
      { weight: 1, arbitrary: fc.constant('failsBeforeCheck' as const) },
      { weight: 2, arbitrary: fc.constant('failsAfterCheck' as const) },
    ),
    { minLength: 2, maxLength: 24 },
  ),
});

/** The last heartbeat an agent sends at or before `at`, or undefined (not started, dead, partitioned). */
function lastHeartbeat(agent: AgentPlan, plan: Plan, at: number): number | undefined {
  const span = plan.runs.length * plan.cleanupEveryMs;
  const before = (x: number) =>
    x < agent.startMs ? undefined : agent.startMs + Math.floor((x - agent.startMs) / agent.periodMs) * agent.periodMs;
  let beat = before(agent.diesAt === undefined ? at : Math.min(at, Math.floor(agent.diesAt * span) - 1));
  const cut = plan.partition;
  if (beat !== undefined && cut && cut.keys.includes(agent.key) && beat >= cut.from * span && beat < cut.to * span) {
    beat = before(Math.floor(cut.from * span) - 1);
  }
  return beat;
}

describe.each(onEachDatabase())('Mass-expiry guard, model-based (%s)', (dialect) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp(
      {
        REGISTRY_API_KEYS: KEYS.map((key) => `${key}:agent:${key}-${SECRET}`).join(','),
        EXPIRY_GUARD_MIN: String(MIN),
        EXPIRY_GUARD_RATIO: String(RATIO),
        EXPIRY_GUARD_MAX_SECONDS: '86400',
      },
      dialect,
    );
  });
  afterAll(async () => {
    await t.close();
  });

  const reset = async () => {
    const connection = t.orm.em.getConnection();
    for (const table of ['agent_capability', 'agent_label', 'agent_skill', 'agent_record', 'expiry_guard_group']) {
      await connection.execute(`delete from ${table}`);
    }
    await connection.execute(
      'update expiry_guard set since = null, reason = null, released_at = null, checked_at = null, held_from = null, ' +
        'held_alive = null, held_without = null',
    );
  };

  it("engages whenever more than the ratio of a group's agents, or of the registry's without its largest group, lapse between checks", async () => {
    const registry = t.app.get(RegistryService);
    const guard = t.app.get(ExpiryGuard);
    const job = t.app.get(CleanupJob);
    const grace = t.app.get(LeaseGrace);
    let cases = 0;
    let engaged = 0;
    let tripped = 0;

    await fc.assert(
      fc.asyncProperty(plans, async (plan) => {
        cases++;
        await reset();
        // Each case on fresh time: the clock only moves forward.
        t.clock.advance(10 * 86_400_000);
        const base = t.clock.now().getTime();
        const callerOf = (agent: AgentPlan): Principal | undefined =>
          agent.key === UNOWNED ? undefined : { name: KEYS[agent.key], role: 'agent' };
        const ids = plan.agents.map((_, i) => `agent-${i}`);
        const groupOf = (i: number) => String(plan.agents[i].key);
        /** What the database holds, as the model knows it. */
        const rows = new Map<number, { expiresAt: number }>();
        const applied = new Map<number, number>();
        let lastCheck: { at: number; alive: Set<number> } | undefined;

        /** Every agent's last heartbeat up to `at`, in time order: a heartbeat, or a registration if it has no row. */
        const beatUntil = async (at: number) => {
          const beats = plan.agents
            .map((agent, i) => ({ i, beat: lastHeartbeat(agent, plan, at) }))
            .filter((b): b is { i: number; beat: number } => b.beat !== undefined && b.beat > (applied.get(b.i) ?? -1))
            .sort((a, b) => a.beat - b.beat);
          for (const { i, beat } of beats) {
            const agent = plan.agents[i];
            t.clock.set(new Date(base + beat));
            if (rows.has(i)) {
              await registry.heartbeat(ids[i], callerOf(agent));
            } else {
              await registry.register(
                { agent_id: ids[i], agent_name: ids[i], host: '10.0.0.1', port: 8080, ttl_seconds: agent.ttlMs / 1000 },
                callerOf(agent),
              );
            }
            rows.set(i, { expiresAt: beat + agent.ttlMs });
            applied.set(i, beat);
          }
        };
        /** Whether the lapses between two checks trip the rule for a group, or for the registry without its largest. */
        const trips = (before: Set<number>, now: Set<number>): boolean => {
          const groups = new Map<string, { alive: number; lapsed: number }>();
          for (const i of before) {
            const group = groups.get(groupOf(i)) ?? { alive: 0, lapsed: 0 };
            group.alive++;
            if (!now.has(i)) group.lapsed++;
            groups.set(groupOf(i), group);
          }
          const tooMany = (lapsed: number, of: number) => lapsed >= MIN && lapsed > RATIO * of;
          if ([...groups.values()].some((group) => tooMany(group.lapsed, group.alive))) return true;
          const most = Math.max(0, ...[...groups.values()].map((group) => group.lapsed));
          const lapsedAll = [...groups.values()].reduce((sum, group) => sum + group.lapsed, 0);
          // Whichever of the groups that lost the most the guard leaves out, the rest trips the rule.
          const largest = [...groups.values()].filter((group) => group.lapsed === most);
          return largest.length > 0 && largest.every((group) => tooMany(lapsedAll - most, before.size - group.alive));
        };
        const aliveAt = (at: number) => new Set([...rows].filter(([, row]) => row.expiresAt > at).map(([i]) => i));

        for (const [n, outcome] of plan.runs.entries()) {
          const at = (n + 1) * plan.cleanupEveryMs;
          await beatUntil(at);
          t.clock.set(new Date(base + at));
          if (outcome === 'skipped') continue;
          const failBefore =
            outcome === 'failsBeforeCheck'
              ? jest.spyOn(grace, 'observe').mockRejectedValueOnce(new Error('down'))
              : undefined;
          const failAfter =
            outcome === 'failsAfterCheck'
              ? jest.spyOn(t.app.get(ExpiredAgents), 'remove').mockRejectedValueOnce(new Error('down'))
              : undefined;
          const alive = aliveAt(at);
          const removed = await job.run();
          failBefore?.mockRestore();
          failAfter?.mockRestore();
          if (outcome === 'failsBeforeCheck') continue;

          const state = await guard.state();
          if (lastCheck !== undefined) {
            if (trips(lastCheck.alive, alive)) {
              tripped++;
              expect({ run: n, engaged: state.engaged }).toEqual({ run: n, engaged: true });
            }
          }
          const expiredGroups = new Set([...rows.keys()].filter((i) => !alive.has(i)).map(groupOf));
          for (const key of state.keys ?? []) expect(expiredGroups).toContain(String(KEYS.indexOf(key)));
          if (state.unowned) expect(expiredGroups).toContain(String(UNOWNED));
          if (state.everything) expect(expiredGroups.size).toBeGreaterThanOrEqual(2);
          if (state.engaged) engaged++;

          for (const id of removed ?? []) rows.delete(ids.indexOf(id));
          lastCheck = { at, alive };
        }
      }),
      // Printed before the first case: a run that ends in jest's timeout (a failure's long shrink) can be replayed.
      { numRuns: RUNS, seed: caseSeed(`expiry guard model (${dialect})`, 'GUARD_MODEL_SEED') },
    );
    // Printed so a run shows how much it exercised.
    process.stdout.write(
      `expiry guard model (${dialect}): ${cases} cases, ${tripped} checks where the rule tripped, ${engaged} with the guard engaged\n`,
    );
  }, 600_000);
});
