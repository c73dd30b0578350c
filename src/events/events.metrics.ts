import { makeCounterProvider, makeGaugeProvider, makeHistogramProvider } from '@willsoto/nestjs-prometheus';

export const WATCH_SUBSCRIBERS = 'agent_registry_watch_subscribers';
export const WATCH_DROPPED = 'agent_registry_watch_dropped_total';
export const WATCH_DURATION = 'agent_registry_watch_duration_seconds';

/**
 * Why the registry ended a watch stream: its client fell too far behind, the events it still needed were pruned,
 * the event log could not be read, the event log was replaced (a restore, a failover to a replica that lagged), or the
 * registry is shutting down. A client that hangs up is not counted.
 */
export type DropReason = 'slow_client' | 'pruned' | 'log_unreadable' | 'replaced' | 'shutdown';

/** Why a watch stream ended: its client went away, or one of the reasons the registry ends one. */
export type EndReason = 'client_closed' | DropReason;

export const EVENTS_METRICS = [
  makeGaugeProvider({ name: WATCH_SUBSCRIBERS, help: 'Watch streams (GET /events) open on this replica.' }),
  makeCounterProvider({
    name: WATCH_DROPPED,
    help: 'Watch streams the registry ended, by reason: slow_client, pruned, log_unreadable, replaced, shutdown.',
    labelNames: ['reason'],
  }),
  // Streams last minutes to days: timed apart from the request histogram, whose latencies they would swamp.
  makeHistogramProvider({
    name: WATCH_DURATION,
    help:
      'Watch streams (GET /events) that ended, by how long they were open and why: client_closed, or the reason ' +
      'the registry ended them (as agent_registry_watch_dropped_total).',
    labelNames: ['reason'],
    buckets: [1, 10, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600],
  }),
];
