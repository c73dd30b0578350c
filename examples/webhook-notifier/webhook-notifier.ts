import { Inject, Injectable, Logger } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import { AGENT_DEREGISTERED, AGENT_EXPIRED, AGENT_REGISTERED, AGENT_UPDATED, RegistryEvent } from '../../src/extending';
import { WebhookSubscriptions } from './webhook-subscriptions';

/** How the notifier sends (WebhookNotifierModule.forRoot). */
export interface WebhookNotifierOptions {
  /** How long one POST may take before it is abandoned; 5 s by default. */
  timeoutMs?: number;
}

export const WEBHOOK_OPTIONS = Symbol('webhook-notifier:options');

/** Most events waiting to be sent; past it, new ones are dropped with a warning rather than held in memory. */
const MAX_WAITING = 10_000;

/**
 * POSTs each registry event this replica commits to every subscription that wants it, as JSON (the RegistryEvent).
 * Once, without retries: a URL that is down, slow or answers an error misses the event, and a warning is logged. A
 * receiver that must see every event follows `GET /events` instead (resumable, across replicas). Events are sent one
 * after another, in order, from a queue of their own: the listener returns at once, and a burst (a cleanup that
 * expires thousands of agents) neither opens thousands of connections nor reads the subscriptions thousands of times.
 */
@Injectable()
export class WebhookNotifier {
  private readonly logger = new Logger(WebhookNotifier.name);
  private readonly timeoutMs: number;
  private sending: Promise<void> = Promise.resolve();
  private waiting = 0;

  constructor(
    private readonly subscriptions: WebhookSubscriptions,
    @Inject(WEBHOOK_OPTIONS) options: WebhookNotifierOptions,
  ) {
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  @OnEvent(AGENT_REGISTERED)
  @OnEvent(AGENT_UPDATED)
  @OnEvent(AGENT_DEREGISTERED)
  @OnEvent(AGENT_EXPIRED)
  notify(event: RegistryEvent): void {
    if (this.waiting >= MAX_WAITING) {
      this.logger.warn(
        `Dropped ${event.type} of ${event.agentId} (revision ${event.revision}): ${MAX_WAITING} waiting`,
      );
      return;
    }
    this.waiting++;
    this.sending = this.sending.then(() => this.send(event)).finally(() => this.waiting--);
  }

  private async send(event: RegistryEvent): Promise<void> {
    try {
      const webhooks = await this.subscriptions.forEvent(event.type);
      const body = JSON.stringify(event);
      await Promise.all(webhooks.map(({ url }) => this.post(url, body, event)));
    } catch (error) {
      this.logger.warn(`Could not send ${event.type} of ${event.agentId}: ${(error as Error).message}`);
    }
  }

  private async post(url: string, body: string, event: RegistryEvent): Promise<void> {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      // The answer's body is not needed: cancelled, it frees the connection now rather than at garbage collection.
      await res.body?.cancel();
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.logger.warn(
        `Webhook ${url} missed ${event.type} of ${event.agentId} (revision ${event.revision}): ${reason}`,
      );
    }
  }
}
