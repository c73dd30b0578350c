import { makeCounterProvider, makeHistogramProvider } from '@willsoto/nestjs-prometheus';
import { makeSampledGaugeProvider } from '../metrics/sampled-gauge';

export const AGENTS = 'agent_registry_agents';
export const REGISTRATIONS = 'agent_registry_registrations_total';
export const HEARTBEATS = 'agent_registry_heartbeats_total';
export const DEREGISTRATIONS = 'agent_registry_deregistrations_total';
export const WRITE_BATCH_SIZE = 'agent_registry_write_batch_size';
export const WRITE_QUEUE_DEPTH = 'agent_registry_write_queue_depth';

/** The registry's own metrics (the names end up in README's list; keep the two together). */
export const REGISTRY_METRICS = [
  makeSampledGaugeProvider({
    name: AGENTS,
    help: 'Agents stored, by state: alive (lease running) or expired (lease ran out, not yet removed by cleanup).',
    labelNames: ['state'],
  }),
  makeCounterProvider({ name: REGISTRATIONS, help: 'Registrations (new agents and re-registrations) committed.' }),
  makeCounterProvider({ name: HEARTBEATS, help: 'Heartbeats committed (lease renewals).' }),
  makeCounterProvider({ name: DEREGISTRATIONS, help: 'Agents deregistered by a DELETE.' }),
  makeHistogramProvider({
    name: WRITE_BATCH_SIZE,
    help: 'Writes committed together in one transaction by the group-commit writer.',
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
  }),
  makeSampledGaugeProvider({
    name: WRITE_QUEUE_DEPTH,
    help: 'Writes waiting for the next group commit (not counting the one in flight).',
  }),
];
