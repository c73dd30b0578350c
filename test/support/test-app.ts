import { MikroORM } from '@mikro-orm/core';
import { INestApplication } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type { Server } from 'node:http';
import request from 'supertest';
import { AppModule, AppModuleOptions } from '../../src/app.module';
import { configureApp, createAppHttpAdapter } from '../../src/app.setup';
import { Clock } from '../../src/common/clock';
import { AppConfig, loadConfig } from '../../src/app.config';
import { Registration, registrationOf } from '../../src/registry/persistence/agent-rows';
import { createTestDatabase, Dialect } from './databases';
import { FakeClock } from './fake-clock';
import { testHttpAdapter } from './http-adapter';
import { tempDir } from './temp-dir';

export { tempDir };

/** No scheduled cleanup: tests run the job themselves. (A yearly cron is refused: see EXPIRY_GUARD_MAX_SECONDS.) */
export const NEVER = 'off';

export interface TestApp {
  app: INestApplication;
  server: Server;
  clock: FakeClock;
  config: AppConfig;
  orm: MikroORM;
  /** The SQLite file's folder (for PostgreSQL, a scratch folder). */
  dir: string;
  dialect: Dialect;
  close(): Promise<void>;
}

/**
 * The real app, built the way main.ts builds it, with a fake clock, on a new database of the given dialect (a
 * SQLite file in a temp folder, or a PostgreSQL database of its own), dropped by `close()`, on this jest project's
 * HTTP adapter. `env` overrides the environment the config is read from; with a DATABASE_URL in it, that database is
 * used and left alone. `options` composes extension modules (AppModule.forRoot).
 */
export async function createTestApp(
  env: NodeJS.ProcessEnv = {},
  dialect: Dialect = 'sqlite',
  clock = new FakeClock(),
  options: AppModuleOptions = {},
): Promise<TestApp> {
  const database = env.DATABASE_URL ? givenDatabase() : await createTestDatabase(dialect);
  const config = testConfig({ DATABASE_URL: database.url, HTTP_ADAPTER: testHttpAdapter(), ...env });
  let app: INestApplication | undefined;
  try {
    const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(config, options)] })
      .overrideProvider(Clock)
      .useValue(clock)
      .compile();
    app = moduleRef.createNestApplication(createAppHttpAdapter(config), {
      bodyParser: false,
      logger: config.logLevels,
    });
    configureApp(app);
    await app.init();
    if (config.httpAdapter === 'fastify') {
      // Fastify routes nothing until it is ready; listen() would do this, supertest does not.
      await (app as NestFastifyApplication).getHttpAdapter().getInstance().ready();
    }
  } catch (error) {
    await app?.close().catch(() => undefined);
    await database.drop();
    throw error;
  }
  return {
    app,
    server: app.getHttpServer() as Server,
    clock,
    config,
    orm: app.get(MikroORM),
    dir: database.dir,
    dialect: config.database.dialect,
    close: async () => {
      await app.close();
      await database.drop();
    },
  };
}

/**
 * The configuration every test tier starts from: the defaults, with what tests control themselves turned off. `env`
 * overrides it (DATABASE_URL is expected there).
 */
export function testConfig(env: NodeJS.ProcessEnv): AppConfig {
  return loadConfig({
    CLEANUP_CRON: NEVER,
    LOG_LEVEL: 'fatal',
    // Tests send bursts no client would; the rate-limit tests turn the limits on.
    RATE_LIMIT: 'off',
    HEARTBEAT_LIMIT: 'off',
    // Suites send many refused requests from one address (loopback); test/attack.e2e-spec.ts turns it on.
    AUTH_FAILURE_LIMIT: 'off',
    // The fake clock jumps: each jump would look like an outage. The restart-grace tests turn it on.
    RESTART_GRACE_AFTER: 'off',
    ...env,
  });
}

/** A scratch folder standing in for a database the caller created and will remove. */
export function givenDatabase(): { url?: string; dir: string; drop(): Promise<void> } {
  const { dir, remove } = tempDir();
  return { dir, drop: () => Promise.resolve(remove()) };
}

/** A registration as the writer takes it (`RegistryWriter.register`), for tests that drive the writer directly. */
export function registration(agentId: string, port = 8080): Registration {
  return registrationOf({ agentId, agentName: `Agent ${agentId}`, host: '10.0.0.1', port, ttlSeconds: 60 });
}

/** A valid registration body; override any field. */
export function agent(agentId: string, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { agent_id: agentId, agent_name: `Agent ${agentId}`, host: '10.0.0.1', port: 8080, ...fields };
}

/** Every agent id the API lists, dead ones included, in its order. */
export async function listedAgentIds(t: TestApp): Promise<string[]> {
  const res = await request(t.server).get('/agents?include_dead=true').expect(200);
  return (res.body as { agent_id: string }[]).map((a) => a.agent_id);
}

/** Rows in agent_record, read past the API (PostgreSQL answers count(*) as a string). */
export async function storedAgentCount(orm: MikroORM): Promise<number> {
  const [row] = await orm.em
    .getConnection()
    .execute<{ n: number | string }[]>('select count(*) as n from agent_record');
  return Number(row.n);
}
