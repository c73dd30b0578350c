import { CanActivate, ExecutionContext, Inject, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { IncomingMessage } from 'node:http';
import { clientAddress, rawRequest } from '../common/request-context';
import { TooManyRequestsException } from '../common/too-many-requests.exception';
import { APP_CONFIG } from '../config/environment';
import { AuthSection } from './auth.config';
import { ACCESS_LEVEL, AccessLevel } from './access.decorator';
import { Principal, PRINCIPAL } from './auth.guard';
import { FixedWindows, RateLimit, secondsLeft, windowText } from './fixed-windows';

export type { RateLimit } from './fixed-windows';

const HEARTBEAT_LIMITED = 'agent-registry:heartbeat-limited';

/** Marks the route whose calls count against each agent's heartbeat limit (HEARTBEAT_LIMIT). */
export const HeartbeatLimited = () => SetMetadata(HEARTBEAT_LIMITED, true);

type RequestLike = (IncomingMessage | { raw: IncomingMessage }) & {
  params?: Record<string, string>;
  [PRINCIPAL]?: Principal;
};

/** Express's response and Fastify's reply: either sets a header. */
type ResponseLike = {
  header?: (name: string, value: string) => unknown;
  setHeader?: (name: string, value: string) => unknown;
};

/** Who a request counts against: its key (AuthGuard found it), or, without keys, its client address. */
function caller(request: RequestLike): string {
  const principal = request[PRINCIPAL];
  return principal ? `key:${principal.name}` : `client:${clientAddress(rawRequest(request))}`;
}

function setHeader(response: ResponseLike, name: string, value: number): void {
  if (typeof response.header === 'function') response.header(name, String(value));
  else response.setHeader?.(name, String(value));
}

/**
 * The rate limits (APP_GUARD, after AuthGuard: it counts per key, which AuthGuard finds), on fixed windows (one number
 * per key and window, O(1) a request), without a promise or a metadata lookup it does not need: it runs on every
 * request, and @nestjs/throttler's guard, which it replaces, took a fifth of the framework ceiling's rate.
 *
 * - RATE_LIMIT counts every request of a key (of a client address when there are no keys), and answers with
 *   `X-RateLimit-Limit-requests`, `X-RateLimit-Remaining-requests` and `X-RateLimit-Reset-requests` (seconds);
 *   beyond it, 429 with `Retry-After` (and `Retry-After-requests`, which the throttler sent too).
 * - HEARTBEAT_LIMIT counts the heartbeats each key (each client address, without keys) sends for each agent, so that
 *   one looping client cannot flood the writer, and no caller can spend another's; beyond it, 429 with `Retry-After`.
 * - Open routes (public, the health probes, /metrics) are never limited: probes and scrapes come on a schedule, and
 *   a limit would only blind the monitoring.
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  private readonly windows = new FixedWindows();

  constructor(
    private readonly reflector: Reflector,
    @Inject(APP_CONFIG) private readonly config: AuthSection,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const { rateLimit, heartbeatLimit } = this.config;
    if (!rateLimit && !heartbeatLimit) return true;
    const handler = context.getHandler();
    const level = this.reflector.getAllAndOverride<AccessLevel | undefined>(ACCESS_LEVEL, [
      handler,
      context.getClass(),
    ]);
    if (level === 'public' || level === 'probe' || level === 'metrics') return true;
    const http = context.switchToHttp();
    const request = http.getRequest<RequestLike>();
    const response = http.getResponse<ResponseLike>();
    const who = caller(request);
    if (rateLimit) {
      const window = this.windows.count(`requests|${who}`, rateLimit.windowMs);
      const reset = secondsLeft(window, Date.now());
      if (window.count > rateLimit.limit) {
        setHeader(response, 'Retry-After-requests', reset);
        throw new TooManyRequestsException(
          `Too many requests: at most ${rateLimit.limit} in ${windowText(rateLimit.windowMs)} (RATE_LIMIT). ` +
            'Retry after Retry-After seconds.',
          reset,
        );
      }
      setHeader(response, 'X-RateLimit-Limit-requests', rateLimit.limit);
      setHeader(response, 'X-RateLimit-Remaining-requests', Math.max(0, rateLimit.limit - window.count));
      setHeader(response, 'X-RateLimit-Reset-requests', reset);
    }
    if (heartbeatLimit && Reflect.getMetadata(HEARTBEAT_LIMITED, handler) === true) {
      // Per caller and agent, not per agent: the limit is counted before the writer checks who owns the agent, so a
      // per-agent count would let another key's refused heartbeats use up the owner's, until its lease lapsed.
      const agent = request.params?.agent_id ?? '';
      const window = this.windows.count(`heartbeats|${who}|agent:${agent}`, heartbeatLimit.windowMs);
      if (window.count > heartbeatLimit.limit) {
        throw new TooManyRequestsException(heartbeatsRefused(heartbeatLimit, agent), secondsLeft(window, Date.now()));
      }
    }
    return true;
  }

  /** How many counters are kept (for tests). */
  get size(): number {
    return this.windows.size;
  }
}

function heartbeatsRefused(limit: RateLimit, agent: string): string {
  return (
    `Too many heartbeats for agent ${agent}: at most ${limit.limit} in ${windowText(limit.windowMs)} ` +
    '(HEARTBEAT_LIMIT). One every ttl_seconds/3 is enough.'
  );
}
