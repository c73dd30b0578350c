import { MikroORM } from '@mikro-orm/core';
import { Test, TestingModule } from '@nestjs/testing';
import { AppModule } from '../../src/app.module';
import { Clock } from '../../src/common/clock';
import { AppConfig } from '../../src/app.config';
import { createTestDatabase, Dialect } from './databases';
import { FakeClock } from './fake-clock';
import { givenDatabase, testConfig } from './test-app';

/** The registry's providers without HTTP, for the medium tier (test/medium). */
export interface TestContext {
  module: TestingModule;
  clock: FakeClock;
  config: AppConfig;
  orm: MikroORM;
  dialect: Dialect;
  /** The SQLite file's folder (for PostgreSQL, a scratch folder). */
  dir: string;
  get<T>(type: abstract new (...args: never[]) => T): T;
  close(): Promise<void>;
}

/**
 * The whole app module, initialised (migrations applied, providers started) but serving no HTTP, over a new
 * database of the given dialect that `close()` drops, with a fake clock. `env` overrides the test configuration.
 */
export async function createTestContext(
  env: NodeJS.ProcessEnv = {},
  dialect: Dialect = 'sqlite',
  clock = new FakeClock(),
): Promise<TestContext> {
  const database = env.DATABASE_URL ? givenDatabase() : await createTestDatabase(dialect);
  const config = testConfig({ DATABASE_URL: database.url, ...env });
  let module: TestingModule | undefined;
  try {
    module = await Test.createTestingModule({ imports: [AppModule.forRoot(config)] })
      .overrideProvider(Clock)
      .useValue(clock)
      .compile();
    await module.init();
  } catch (error) {
    await module?.close().catch(() => undefined);
    await database.drop();
    throw error;
  }
  const ready = module;
  return {
    module: ready,
    clock,
    config,
    orm: ready.get(MikroORM),
    dialect: config.database.dialect,
    dir: database.dir,
    get: (type) => ready.get(type),
    close: async () => {
      await ready.close();
      await database.drop();
    },
  };
}
