/** A limit: at most `limit` requests in each window of `windowMs`. */
export interface RateLimit {
  limit: number;
  windowMs: number;
}

/** `a second`, `60 seconds`: a window as the 429 details and logs name it. */
export function windowText(windowMs: number): string {
  const seconds = windowMs / 1000;
  return seconds === 1 ? 'a second' : `${seconds} seconds`;
}

/** One key's running window. */
export interface Window {
  startedAt: number;
  endsAt: number;
  count: number;
}

/** Whole seconds until `window` ends, at least 1: a Retry-After. */
export function secondsLeft(window: Window, now: number): number {
  return Math.max(1, Math.ceil((window.endsAt - now) / 1000));
}

/**
 * Fixed-window counters: one number per key and window, O(1) a call, each window starting at its key's first count.
 * Past windows are forgotten every SWEEP_EVERY_MS, by the call that comes after: no timer to stop. With `maxKeys`,
 * a new key beyond it drops the oldest window: whoever picks the keys (a client address) cannot
 * grow the map without bound, and dropping a count only ever lets a request through, never refuses one.
 */
export class FixedWindows {
  // Insertion order is start order: a window that starts again is deleted and set anew.
  private readonly windows = new Map<string, Window>();
  private nextSweep = 0;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly maxKeys = Number.POSITIVE_INFINITY,
  ) {}

  /** The key's running window, if it has one. */
  current(key: string): Window | undefined {
    const now = this.now();
    this.sweepIfDue(now);
    const window = this.windows.get(key);
    return window && window.endsAt > now ? window : undefined;
  }

  /** Counts one for `key`, starting a window of `windowMs` if none is running; returns the window. */
  count(key: string, windowMs: number): Window {
    let window = this.current(key);
    if (!window) {
      const now = this.now();
      this.windows.delete(key);
      if (this.windows.size >= this.maxKeys) this.makeRoom();
      window = { startedAt: now, endsAt: now + windowMs, count: 0 };
      this.windows.set(key, window);
    }
    window.count++;
    return window;
  }

  /** How many keys are kept (for tests). */
  get size(): number {
    return this.windows.size;
  }

  private sweepIfDue(now: number): void {
    if (now < this.nextSweep) return;
    for (const [key, window] of this.windows) if (window.endsAt <= now) this.windows.delete(key);
    this.nextSweep = now + SWEEP_EVERY_MS;
  }

  /** Drops the oldest windows: O(1) each, where a sweep on every new key of a full map would be O(maxKeys). */
  private makeRoom(): void {
    for (const key of this.windows.keys()) {
      if (this.windows.size < this.maxKeys) break;
      this.windows.delete(key);
    }
  }
}

const SWEEP_EVERY_MS = 10_000;
