import { BigIntType, Entity, PrimaryKey, Property } from '@mikro-orm/core';

/** One URL the registry's events are POSTed to (table `webhook_subscription`, created by this module's migrations). */
@Entity({ tableName: 'webhook_subscription' })
export class WebhookSubscription {
  /** A UUID, given when the subscription is created. */
  @PrimaryKey({ length: 36 })
  id!: string;

  @Property({ type: 'text' })
  url!: string;

  /** The event types sent, comma-separated (`registered,expired`); empty: all of them. */
  @Property({ length: 64 })
  events!: string;

  /** Epoch milliseconds. */
  @Property({ type: new BigIntType('number') })
  createdAt!: number;
}
