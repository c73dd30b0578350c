import { ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import {
  ThrottlerException,
  ThrottlerGuard,
  ThrottlerLimitDetail,
  ThrottlerModuleOptions,
  ThrottlerStorage,
} from '@nestjs/throttler';
import type { ThrottlerStorageRecord } from '@nestjs/throttler/dist/throttler-storage-record.interface';
import type { IncomingMessage } from 'node:http';
import { clientAddress, rawRequest } from '../common/request-context';
import { AuthSection } from './auth.config';
import { ACCESS_LEVEL, AccessLevel } from './access.decorator';
import { Principal, PRINCIPAL } from './auth.guard';
import { FixedWindows, secondsLeft, windowText } from './fixed-windows';

export type { RateLimit } from './fixed-windows';

const HEARTBEAT_LIMITED = 'agent-registry:heartbeat-limited';

/** Marks the route whose calls count against each agent's heartbeat limit (HEARTBEAT_LIMIT). */
export const HeartbeatLimited = () => SetMetadata(HEARTBEAT_LIMITED, true);

/**
 * The throttler's storage on fixed windows: one number per key and window, O(1) a request. The throttler's own
 * storage keeps every hit's expiry and scans them on each request, and a timer per record: fine for a login form, not
 * for 10,000 heartbeats a second or one counter per agent of a million.
 */
export class WindowCounters implements ThrottlerStorage {
  private readonly windows = new FixedWindows();

  increment(key: string, ttl: number, limit: number): Promise<ThrottlerStorageRecord> {
    const window = this.windows.count(key, ttl);
    const timeToExpire = secondsLeft(window, Date.now());
    const isBlocked = window.count > limit;
    return Promise.resolve({
      totalHits: window.count,
      timeToExpire,
      isBlocked,
      timeToBlockExpire: isBlocked ? timeToExpire : 0,
    });
  }

  /** How many counters are kept (for tests). */
  get size(): number {
    return this.windows.size;
  }
}

const HEARTBEATS = 'heartbeats';

type RequestLike = (IncomingMessage | { raw: IncomingMessage }) & {
  params?: Record<string, string>;
  [PRINCIPAL]?: Principal;
};

/** Who a request counts against: its key (AuthGuard found it), or, without keys, its client address. */
function caller(request: RequestLike): string {
  const principal = request[PRINCIPAL];
  return principal ? `key:${principal.name}` : `client:${clientAddress(rawRequest(request))}`;
}

/**
 * The throttler's options from RATE_LIMIT and HEARTBEAT_LIMIT: `requests` counts every request of a key (of a client
 * address when there are no keys), `heartbeats` the heartbeats each key (each client address, without keys) sends for
 * each agent, so that one looping client cannot flood the writer, and no caller can spend another's. Open routes (the
 * health probes, the docs) are never limited.
 */
export function throttlerOptions(config: AuthSection, storage: ThrottlerStorage): ThrottlerModuleOptions {
  const throttlers = [];
  if (config.rateLimit) {
    throttlers.push({
      name: 'requests',
      limit: config.rateLimit.limit,
      ttl: config.rateLimit.windowMs,
      getTracker: (req: Record<string, unknown>) => caller(req as RequestLike),
    });
  }
  if (config.heartbeatLimit) {
    throttlers.push({
      name: HEARTBEATS,
      limit: config.heartbeatLimit.limit,
      ttl: config.heartbeatLimit.windowMs,
      setHeaders: false,
      skipIf: (context: ExecutionContext) => Reflect.getMetadata(HEARTBEAT_LIMITED, context.getHandler()) !== true,
      // Per caller and agent, not per agent: the limit is counted before the writer checks who owns the agent, so a
      // per-agent count would let another key's refused heartbeats use up the owner's, until its lease lapsed.
      getTracker: (req: Record<string, unknown>) =>
        `${caller(req as RequestLike)}|agent:${(req as RequestLike).params?.agent_id ?? ''}`,
    });
  }
  return {
    throttlers,
    storage,
    generateKey: (_context, tracker, name) => `${name}|${tracker}`,
  };
}

/**
 * The throttler's guard, after AuthGuard (it counts per key), answering 429 as problem details with a plain
 * `Retry-After` (the throttler would name it `Retry-After-heartbeats`).
 */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  protected override shouldSkip(context: ExecutionContext): Promise<boolean> {
    const level = this.reflector.getAllAndOverride<AccessLevel | undefined>(ACCESS_LEVEL, [
      context.getHandler(),
      context.getClass(),
    ]);
    // Probes and scrapes come on a schedule: a limit would only blind the monitoring.
    return Promise.resolve(
      this.throttlers.length === 0 || level === 'public' || level === 'probe' || level === 'metrics',
    );
  }

  protected override throwThrottlingException(context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    const { res } = this.getRequestResponse(context);
    this.setResponseHeader(res, 'Retry-After', detail.timeToBlockExpire);
    const window = windowText(detail.ttl);
    const message = detail.key.startsWith(`${HEARTBEATS}|`)
      ? `Too many heartbeats for agent ${this.agentOf(context)}: at most ${detail.limit} in ${window} ` +
        '(HEARTBEAT_LIMIT). One every ttl_seconds/3 is enough.'
      : `Too many requests: at most ${detail.limit} in ${window} (RATE_LIMIT). Retry after Retry-After seconds.`;
    throw new ThrottlerException(message);
  }

  private agentOf(context: ExecutionContext): string {
    return context.switchToHttp().getRequest<RequestLike>().params?.agent_id ?? '';
  }
}
