import { DynamicModule, Module } from '@nestjs/common';
import { DatabaseModule } from '../../src/extending';
import { WEBHOOK_DATABASE } from './migrations';
import { WEBHOOK_OPTIONS, WebhookNotifier, WebhookNotifierOptions } from './webhook-notifier';
import { WebhookSubscriptions } from './webhook-subscriptions';
import { WebhooksController } from './webhooks.controller';

/**
 * Sends the registry's events to the URLs admins subscribe (`/webhooks`), keeping the subscriptions in a table of its
 * own on the registry's database.
 */
@Module({})
export class WebhookNotifierModule {
  static forRoot(options: WebhookNotifierOptions = {}): DynamicModule {
    return {
      module: WebhookNotifierModule,
      imports: [DatabaseModule.forFeature(WEBHOOK_DATABASE)],
      controllers: [WebhooksController],
      providers: [{ provide: WEBHOOK_OPTIONS, useValue: options }, WebhookSubscriptions, WebhookNotifier],
    };
  }
}
