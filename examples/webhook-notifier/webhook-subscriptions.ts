import { EntityManager } from '@mikro-orm/core';
import { Injectable, NotFoundException } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Clock, RegistryEventType } from '../../src/extending';
import { CreateWebhookRequest, Webhook } from './webhook.dto';
import { WebhookSubscription } from './webhook-subscription.entity';

/** How long the notifier may send by a list of subscriptions read before: another replica's changes show after this. */
const CACHED_MS = 1000;

/** The subscriptions table: every read and write on a fork of its own (the registry keeps no request context). */
@Injectable()
export class WebhookSubscriptions {
  /** The list the notifier sends by, read at most once a CACHED_MS: a cleanup of 10,000 agents is one read, not 10,000. */
  private cached?: { readAt: number; webhooks: Promise<Webhook[]> };

  constructor(
    private readonly em: EntityManager,
    private readonly clock: Clock,
  ) {}

  async create(request: CreateWebhookRequest): Promise<Webhook> {
    const subscription: WebhookSubscription = {
      id: randomUUID(),
      url: request.url,
      events: (request.events ?? []).join(','),
      createdAt: this.clock.now().getTime(),
    };
    await this.em.fork().insert(WebhookSubscription, subscription);
    this.cached = undefined;
    return toWebhook(subscription);
  }

  async list(): Promise<Webhook[]> {
    const rows = await this.em.fork().find(WebhookSubscription, {}, { orderBy: { createdAt: 'asc', id: 'asc' } });
    return rows.map(toWebhook);
  }

  /** The subscriptions that want events of `type`, as read at most CACHED_MS ago (or since this replica's last change). */
  async forEvent(type: RegistryEventType): Promise<Webhook[]> {
    const now = performance.now();
    if (!this.cached || now - this.cached.readAt > CACHED_MS) {
      const webhooks = this.list();
      this.cached = { readAt: now, webhooks };
      webhooks.catch(() => (this.cached = undefined));
    }
    const webhooks = await this.cached.webhooks;
    return webhooks.filter((webhook) => webhook.events.length === 0 || webhook.events.includes(type));
  }

  async remove(id: string): Promise<void> {
    const deleted = await this.em.fork().nativeDelete(WebhookSubscription, { id });
    this.cached = undefined;
    if (deleted === 0) throw new NotFoundException(`Webhook not found: ${id}`);
  }
}

function toWebhook(row: WebhookSubscription): Webhook {
  return {
    id: row.id,
    url: row.url,
    events: row.events === '' ? [] : (row.events.split(',') as RegistryEventType[]),
    created_at: new Date(row.createdAt).toISOString(),
  };
}
