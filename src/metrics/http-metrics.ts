import type { IncomingMessage, ServerResponse } from 'node:http';
import { Histogram, register } from 'prom-client';
import { routeLabel } from '../common/request-context';

export const HTTP_REQUEST_DURATION = 'agent_registry_http_request_duration_seconds';

/** From a cached lookup (about a millisecond) to a slow write under load. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

type Label = 'method' | 'route' | 'status';

/**
 * The histogram, created by the first app in the process and shared after (prom-client refuses a name twice). The
 * adapters' first hooks time requests, below Nest, so it has no provider.
 */
function requestDuration(): Histogram<Label> {
  return (
    (register.getSingleMetric(HTTP_REQUEST_DURATION) as Histogram<Label> | undefined) ??
    new Histogram<Label>({
      name: HTTP_REQUEST_DURATION,
      help:
        'HTTP requests by method, route template and status, from their first byte to the end of the answer; event ' +
        'streams are timed apart (agent_registry_watch_duration_seconds).',
      labelNames: ['method', 'route', 'status'],
      buckets: BUCKETS,
    })
  );
}

/** An event stream's answer, which lasts as long as its client watches (a HEAD of one is over at once). */
function isStream(raw: IncomingMessage, response: ServerResponse): boolean {
  return raw.method !== 'HEAD' && /^text\/event-stream/i.test(String(response.getHeader('content-type') ?? ''));
}

/**
 * Times a request from the adapter's first hook to the end of its answer, whatever gave it (a guard, validation, the
 * handler, a raw hook). `route` tells the matched route template once the answer is over (see routeLabel). An answer
 * that never started (the client went away first) counts with the status `aborted`. Event streams are left out: they
 * last minutes to days and would make the latency quantiles meaningless; agent_registry_watch_duration_seconds times
 * them (a 400 or 410 from `/events` is an ordinary request, and counts here).
 */
export function timeRequest(raw: IncomingMessage, response: ServerResponse, route: () => string | undefined): void {
  const histogram = requestDuration();
  const end = histogram.startTimer();
  // As the request arrived (see beginRequest).
  const url = raw.url ?? '';
  response.once('close', () => {
    if (response.headersSent && isStream(raw, response)) return;
    end({
      method: raw.method ?? '-',
      route: routeLabel(url, route()),
      status: response.headersSent ? String(response.statusCode) : 'aborted',
    });
  });
}
