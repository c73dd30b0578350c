import { RegistryError } from './errors.js';
import type { AgentInfo, AgentRegistration, RegistryClient } from './registry-client.js';

/** `active`: the last heartbeat (or registration) succeeded; `retrying`: it failed and is being retried; `closed`. */
export type LeaseState = 'active' | 'retrying' | 'closed';

export interface LeaseEvents {
  /**
   * The lease changed state: once when heartbeats start failing (`retrying`, with the error; `errorSummary(error)`
   * says it in a line), once when one succeeds again (`active`), however many retries came between. Log this.
   */
  state: (state: LeaseState, error?: unknown) => void;
  /** A heartbeat renewed the lease. */
  heartbeat: (expiresAt: string) => void;
  /** The registry no longer knew the agent (a 404): it was registered again. */
  reregistered: (agent: AgentInfo) => void;
  /** Every failed heartbeat or registration, retries included (for counting; `state` is the one to log). */
  error: (error: unknown) => void;
}

export interface LeaseOptions {
  /** Most time between retries after errors (default: a third of the TTL). */
  maxBackoffMs?: number;
  /** A random number in [0, 1): tests pin it. */
  random?: () => number;
}

/**
 * Keeps an agent registered: a heartbeat every third of its TTL, give or take 10% (so a fleet started together does
 * not heartbeat in lockstep); after an error, retries sooner with exponential backoff and jitter, never waiting
 * longer than a third of the TTL; registers again when a heartbeat finds the agent unknown (404: the registry lost or
 * expired it); deregisters on `close()`. Its state and every renewal are reported through `on()`.
 */
export class Lease {
  private listeners: { [E in keyof LeaseEvents]: LeaseEvents[E][] } = {
    state: [],
    heartbeat: [],
    reregistered: [],
    error: [],
  };
  private timer?: ReturnType<typeof setTimeout>;
  private failures = 0;
  private current: LeaseState = 'active';
  private pending?: Promise<void>;

  private constructor(
    private readonly client: RegistryClient,
    private readonly registration: AgentRegistration,
    private registered: AgentInfo,
    private readonly options: LeaseOptions,
  ) {}

  /** Registers the agent (failing if that fails) and keeps it registered until `close()`; `client.register()`. */
  static async start(
    client: RegistryClient,
    registration: AgentRegistration,
    options: LeaseOptions = {},
  ): Promise<Lease> {
    const lease = new Lease(client, registration, await client.registerOnce(registration), options);
    lease.schedule(lease.interval());
    return lease;
  }

  get state(): LeaseState {
    return this.current;
  }

  /** The agent as last registered. */
  get agent(): AgentInfo {
    return this.registered;
  }

  on<E extends keyof LeaseEvents>(event: E, listener: LeaseEvents[E]): this {
    this.listeners[event].push(listener);
    return this;
  }

  /** Stops heartbeating and deregisters the agent (an agent already gone is fine). */
  async close(): Promise<void> {
    if (this.current === 'closed') return;
    clearTimeout(this.timer);
    this.setState('closed');
    await this.pending;
    try {
      await this.client.deregister(this.registration.agent_id);
    } catch (error) {
      if (!(error instanceof RegistryError && error.status === 404)) throw error;
    }
  }

  private get ttlMs(): number {
    return (this.registration.ttl_seconds ?? this.registered.ttl_seconds) * 1000;
  }

  /** A third of the TTL, ±10%. */
  private interval(): number {
    return (this.ttlMs / 3) * (0.9 + 0.2 * this.random());
  }

  private random(): number {
    return (this.options.random ?? Math.random)();
  }

  private schedule(delayMs: number): void {
    if (this.current === 'closed') return;
    this.timer = setTimeout(() => {
      this.pending = this.beat().finally(() => (this.pending = undefined));
    }, delayMs);
    // A lease alone does not keep a process alive.
    (this.timer as { unref?: () => void }).unref?.();
  }

  private async beat(): Promise<void> {
    try {
      try {
        const { expires_at } = await this.client.heartbeat(this.registration.agent_id);
        this.emit('heartbeat', expires_at);
      } catch (error) {
        if (!(error instanceof RegistryError && error.status === 404)) throw error;
        this.registered = await this.client.registerOnce(this.registration);
        this.emit('reregistered', this.registered);
      }
      // Closed while this heartbeat was in flight: it must not revive the lease close() is ending.
      if (this.current === 'closed') return;
      this.failures = 0;
      this.setState('active');
      this.schedule(this.interval());
    } catch (error) {
      if (this.current === 'closed') return;
      this.failures++;
      this.setState('retrying', error);
      this.emit('error', error);
      // Full jitter over an exponential ceiling, itself at most a third of the TTL (or maxBackoffMs).
      const ceiling = Math.min(this.options.maxBackoffMs ?? this.ttlMs / 3, 250 * 2 ** this.failures);
      const retryAfter = error instanceof RegistryError && error.retryAfterSeconds ? error.retryAfterSeconds * 1000 : 0;
      this.schedule(Math.max(Math.min(retryAfter, this.ttlMs / 3), ceiling * (0.5 + 0.5 * this.random())));
    }
  }

  private setState(state: LeaseState, error?: unknown): void {
    if (state === this.current) return;
    this.current = state;
    this.emit('state', state, error);
  }

  private emit<E extends keyof LeaseEvents>(event: E, ...args: Parameters<LeaseEvents[E]>): void {
    for (const listener of this.listeners[event]) {
      (listener as (...a: Parameters<LeaseEvents[E]>) => void)(...args);
    }
  }
}
