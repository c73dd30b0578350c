import { DatabaseFeature } from '../../../src/extending';
import { WebhookSubscription } from '../webhook-subscription.entity';
import { WebhookNotifier20261207150000 as PostgresSubscriptions } from './postgresql/WebhookNotifier20261207150000';
import { WebhookNotifier20261207150000 as SqliteSubscriptions } from './sqlite/WebhookNotifier20261207150000';

/**
 * The notifier's table on both databases: one migration list per dialect, the same names in both, prefixed with the
 * module's name (the registry's migrations table holds every module's).
 */
export const WEBHOOK_DATABASE: DatabaseFeature = {
  entities: [WebhookSubscription],
  migrations: {
    sqlite: [{ name: 'WebhookNotifier20261207150000', class: SqliteSubscriptions }],
    postgresql: [{ name: 'WebhookNotifier20261207150000', class: PostgresSubscriptions }],
  },
};
