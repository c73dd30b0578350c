import { makeCounterProvider, makeGaugeProvider, makeHistogramProvider } from '@willsoto/nestjs-prometheus';

/** The gauge that says whether the guard holds this replica's cleanup (GET /metrics). */
export const EXPIRY_GUARD_ENGAGED = 'agent_registry_expiry_guard_engaged';
export const EXPIRY_GUARD_ENGAGED_HELP =
  '1 while the mass-expiry guard holds any agents (of one key, or the whole registry) from cleanup, as this replica ' +
  'last read it; 0 otherwise.';

export const CLEANUP_DURATION = 'agent_registry_cleanup_duration_seconds';
export const CLEANUP_REMOVED = 'agent_registry_cleanup_removed_agents';
export const EXPIRATIONS = 'agent_registry_expirations_total';

/** In this order: /metrics lists the guard's gauge before the cleanup's own, as it did when the registry declared it. */
export const CLEANUP_METRICS = [
  makeGaugeProvider({ name: EXPIRY_GUARD_ENGAGED, help: EXPIRY_GUARD_ENGAGED_HELP }),
  makeHistogramProvider({
    name: CLEANUP_DURATION,
    help: 'Cleanup runs by result (ok, failed): grace, guard, removing expired agents and pruning old events.',
    labelNames: ['result'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  }),
  makeGaugeProvider({ name: CLEANUP_REMOVED, help: 'Expired agents the last cleanup run of this replica removed.' }),
  makeCounterProvider({
    name: EXPIRATIONS,
    help: 'Agents removed by cleanup because their lease ran out (each counted by the replica that removed it).',
  }),
];
