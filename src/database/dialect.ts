import { IDatabaseDriver } from '@mikro-orm/core';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';

/** The two databases the registry runs on. */
export type Dialect = 'sqlite' | 'postgresql';

/** Which of them a driver (`orm.config.getDriver()`, `em.getDriver()`) talks to. */
export function dialectOf(driver: IDatabaseDriver): Dialect {
  return driver instanceof PostgreSqlDriver ? 'postgresql' : 'sqlite';
}
