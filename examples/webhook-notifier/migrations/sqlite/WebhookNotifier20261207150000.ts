import { Migration } from '@mikro-orm/migrations';

/** The webhook notifier's subscriptions. */
export class WebhookNotifier20261207150000 extends Migration {
  override up(): void {
    this.addSql(
      'create table `webhook_subscription` (`id` varchar(36) not null, `url` text not null, ' +
        '`events` varchar(64) not null, `created_at` bigint not null, primary key (`id`));',
    );
  }

  override down(): void {
    this.addSql('drop table if exists `webhook_subscription`;');
  }
}
