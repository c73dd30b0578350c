import { CanActivate, ExecutionContext, Inject, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { IncomingMessage } from 'node:http';
import { clientAddress, rawRequest } from '../common/request-context';
import { TooManyRequestsException } from '../common/too-many-requests.exception';
import { APP_CONFIG } from '../config/environment';
import { AuthSection } from './auth.config';
import { accessLevelOf } from './access.decorator';
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
    const level = accessLevelOf(this.reflector, context);
    if (level === 'public' || level === 'probe' || level === 'metrics') return true;
    const http = context.switchToHttp();
    const request = http.getRequest<RequestLike>();
    const response = http.getResponse<ResponseLike>();
    const who = caller(request);
    const heartbeat = heartbeatLimit && Reflect.getMetadata(HEARTBEAT_LIMITED, handler) === true;
    // The limit with the shorter window first, as the throttler ordered them: a heartbeat refused by HEARTBEAT_LIMIT
    // (10 s by default) then never counts against a longer RATE_LIMIT window, so one looping agent cannot use up its
    // key's requests.
    if (heartbeat && rateLimit && heartbeatLimit.windowMs < rateLimit.windowMs) {
      this.countHeartbeat(heartbeatLimit, who, request);
      this.countRequest(rateLimit, who, response);
    } else {
      if (rateLimit) this.countRequest(rateLimit, who, response);
      if (heartbeat) this.countHeartbeat(heartbeatLimit, who, request);
    }
    return true;
  }

  /** Counts a request against RATE_LIMIT, and says how much is left; throws the 429 past it. */
  private countRequest(limit: RateLimit, who: string, response: ResponseLike): void {
    const window = this.windows.count(`requests|${who}`, limit.windowMs);
    const reset = secondsLeft(window, Date.now());
    if (window.count > limit.limit) {
      setHeader(response, 'Retry-After-requests', reset);
      throw new TooManyRequestsException(
        `Too many requests: at most ${limit.limit} in ${windowText(limit.windowMs)} (RATE_LIMIT). ` +
          'Retry after Retry-After seconds.',
        reset,
      );
    }
    setHeader(response, 'X-RateLimit-Limit-requests', limit.limit);
    setHeader(response, 'X-RateLimit-Remaining-requests', Math.max(0, limit.limit - window.count));
    setHeader(response, 'X-RateLimit-Reset-requests', reset);
  }

  /**
   * Counts a heartbeat against HEARTBEAT_LIMIT; throws the 429 past it. Per caller and agent, not per agent: the limit
   * is counted before the writer checks who owns the agent, so a per-agent count would let another key's refused
   * heartbeats use up the owner's, until its lease lapsed.
   */
  private countHeartbeat(limit: RateLimit, who: string, request: RequestLike): void {
    const agent = request.params?.agent_id ?? '';
    const window = this.windows.count(`heartbeats|${who}|agent:${agent}`, limit.windowMs);
    if (window.count > limit.limit) {
      throw new TooManyRequestsException(heartbeatsRefused(limit, agent), secondsLeft(window, Date.now()));
    }
  }
}

function heartbeatsRefused(limit: RateLimit, agent: string): string {
  return (
    `Too many heartbeats for agent ${agent}: at most ${limit.limit} in ${windowText(limit.windowMs)} ` +
    '(HEARTBEAT_LIMIT). One every ttl_seconds/3 is enough.'
  );
}
