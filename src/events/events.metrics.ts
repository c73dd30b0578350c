import { makeCounterProvider, makeGaugeProvider } from '@willsoto/nestjs-prometheus';

export const WATCH_SUBSCRIBERS = 'agent_registry_watch_subscribers';
export const WATCH_DROPPED = 'agent_registry_watch_dropped_total';

/**
 * Why the registry ended a watch stream: its client fell too far behind, the events it still needed were pruned,
 * the event log could not be read, or the registry is shutting down. A client that hangs up is not counted.
 */
export type DropReason = 'slow_client' | 'pruned' | 'log_unreadable' | 'shutdown';

export const EVENTS_METRICS = [
  makeGaugeProvider({ name: WATCH_SUBSCRIBERS, help: 'Watch streams (GET /events) open on this replica.' }),
  makeCounterProvider({
    name: WATCH_DROPPED,
    help: 'Watch streams the registry ended, by reason: slow_client, pruned, log_unreadable, shutdown.',
    labelNames: ['reason'],
  }),
];
