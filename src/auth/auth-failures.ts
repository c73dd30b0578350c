import { Logger } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { clientAddress } from '../common/request-context';
import { TooManyRequestsException } from '../common/too-many-requests.exception';
import type { AuthConfig } from './auth.config';
import { FixedWindows, RateLimit, secondsLeft, windowText } from './fixed-windows';

/** A 429 for a client address past AUTH_FAILURE_LIMIT; the problem-details filter sends `Retry-After`. */
export class AuthFailuresBlockedException extends TooManyRequestsException {
  constructor(limit: RateLimit, retryAfterSeconds: number) {
    super(
      `Too many failed authentications from this address: at most ${limit.limit} in ${windowText(limit.windowMs)} ` +
        '(AUTH_FAILURE_LIMIT). Retry after Retry-After seconds.',
      retryAfterSeconds,
    );
  }
}

/**
 * How many addresses are counted at once. Past it the oldest windows are dropped: an attacker rotating addresses (an
 * IPv6 prefix holds billions) cannot grow the map without bound. 100,000 windows are about 20 MB.
 */
export const MAX_COUNTED_ADDRESSES = 100_000;

/**
 * AUTH_FAILURE_LIMIT: failed authentications (401s: no key, or one the registry does not know) counted per client
 * address in fixed windows that start at an address's first failure. Once an address has `limit` failures in its
 * window, its requests without a known key are a 429 until the window ends: it cannot keep guessing. A known key is
 * always served: behind a proxy every client shares the proxy's address, and refusing the right key would let anyone
 * stop every fleet's heartbeats with 20 wrong keys a minute, while buying nothing against guessing secrets of 16 or
 * more characters. Successful requests never count. Logged at `warn`, never with the secret: the first failure of
 * each window, and the moment an address is blocked (at most two lines an address a window).
 */
export class AuthFailures {
  private readonly logger = new Logger('Auth');
  private readonly windows: FixedWindows;

  constructor(
    readonly limit: RateLimit,
    private readonly now: () => number = Date.now,
    maxAddresses = MAX_COUNTED_ADDRESSES,
  ) {
    this.windows = new FixedWindows(now, maxAddresses);
  }

  /** Throws the 429 if the request's address is past the limit. Asked only for a request without a known key. */
  admit(raw: IncomingMessage): void {
    const window = this.windows.current(clientAddress(raw) ?? '-');
    if (window && window.count >= this.limit.limit) {
      throw new AuthFailuresBlockedException(this.limit, secondsLeft(window, this.now()));
    }
  }

  /** Counts a failed authentication of the request's address. */
  fail(raw: IncomingMessage): void {
    const address = clientAddress(raw) ?? '-';
    const window = this.windows.count(address, this.limit.windowMs);
    const allowed = `AUTH_FAILURE_LIMIT: at most ${this.limit.limit} in ${windowText(this.limit.windowMs)}`;
    if (window.count === this.limit.limit) {
      const now = this.now();
      const seconds = Math.round((now - window.startedAt) / 1000);
      this.logger.warn(
        `${window.count} failed authentications from ${address} in the last ${seconds} s: its requests without a ` +
          `known key get 429 for ${secondsLeft(window, now)} s (${allowed}).`,
      );
    } else if (window.count === 1) {
      this.logger.warn(
        `Failed authentication from ${address}: ${raw.method ?? '-'} ${pathOf(raw)} without a key the registry ` +
          `knows. Further failures from ${address} in the next ${windowText(this.limit.windowMs)} are counted, not ` +
          `logged, until it is blocked (${allowed}).`,
      );
    }
  }

  /** How many addresses are tracked (for tests). */
  get size(): number {
    return this.windows.size;
  }
}

/**
 * The path, without its query (which may carry anything), clipped: it goes into a log line. Express's mounts (the docs
 * gate's) rewrite `url`, and keep it as `originalUrl`.
 */
function pathOf(raw: IncomingMessage & { originalUrl?: string }): string {
  const path = (raw.originalUrl ?? raw.url ?? '').split('?')[0];
  return path.length > 256 ? `${path.slice(0, 256)}…` : path;
}

/**
 * The counts of one app, shared by AuthGuard and the docs gate (which runs below Nest, and is built before it): kept
 * with the app's AuthConfig, which both hold. AuthGuard replaces the first one with one on the injected clock.
 */
const byConfig = new WeakMap<AuthConfig, AuthFailures>();

export function authFailuresOf(auth: AuthConfig): AuthFailures | undefined {
  if (!auth.failureLimit) return undefined;
  let failures = byConfig.get(auth);
  if (!failures) {
    failures = new AuthFailures(auth.failureLimit);
    byConfig.set(auth, failures);
  }
  return failures;
}

/** Counts the app's failures on `now` (the injected clock), from the next request on. */
export function countAuthFailuresOn(auth: AuthConfig, now: () => number): void {
  if (auth.failureLimit) byConfig.set(auth, new AuthFailures(auth.failureLimit, now));
}
