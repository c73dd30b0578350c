import { EntityManager } from '@mikro-orm/core';
import { Injectable, NotFoundException } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Clock, RegistryEventType } from '../../src/extending';
import { CreateWebhookRequest, Webhook } from './webhook.dto';
import { WebhookSubscription } from './webhook-subscription.entity';

/** The subscriptions table: every read and write on a fork of its own (the registry keeps no request context). */
@Injectable()
export class WebhookSubscriptions {
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
    return toWebhook(subscription);
  }

  async list(): Promise<Webhook[]> {
    const rows = await this.em.fork().find(WebhookSubscription, {}, { orderBy: { createdAt: 'asc', id: 'asc' } });
    return rows.map(toWebhook);
  }

  /** The subscriptions that want events of `type`. */
  async forEvent(type: RegistryEventType): Promise<Webhook[]> {
    return (await this.list()).filter((webhook) => webhook.events.length === 0 || webhook.events.includes(type));
  }

  async remove(id: string): Promise<void> {
    const deleted = await this.em.fork().nativeDelete(WebhookSubscription, { id });
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
