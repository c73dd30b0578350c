import { MikroORM } from '@mikro-orm/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppModule } from '../../src/app.module';
import { configureApp } from '../../src/app.setup';
import { Clock } from '../../src/common/clock';
import { AppConfig, loadConfig } from '../../src/config/app-config';
import { FakeClock } from './fake-clock';

/** A cron expression that does not fire during a test run (midnight, January 1st). */
export const NEVER = '0 0 0 1 1 *';

export interface TestApp {
  app: NestExpressApplication;
  server: ReturnType<NestExpressApplication['getHttpServer']>;
  clock: FakeClock;
  config: AppConfig;
  orm: MikroORM;
  dir: string;
  close(): Promise<void>;
}

/** A temporary directory, removed by the returned function. */
export function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'agent-registry-test-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * The real app, built the way main.ts builds it, on a fresh SQLite file in a temp directory, with a fake clock.
 * `env` overrides the environment the config is read from.
 */
export async function createTestApp(env: NodeJS.ProcessEnv = {}): Promise<TestApp> {
  const { dir, remove } = tempDir();
  const config = loadConfig({
    DATABASE_URL: `sqlite:${join(dir, 'registry.sqlite')}`,
    CLEANUP_CRON: NEVER,
    LOG_LEVEL: 'fatal',
    ...env,
  });
  const clock = new FakeClock();
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(config)] })
    .overrideProvider(Clock)
    .useValue(clock)
    .compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({ bodyParser: false, logger: config.logLevels });
  configureApp(app, config);
  await app.init();
  return {
    app,
    server: app.getHttpServer(),
    clock,
    config,
    orm: app.get(MikroORM),
    dir,
    close: async () => {
      await app.close();
      remove();
    },
  };
}

/** A valid registration body; override any field. */
export function agent(agentId: string, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { agent_id: agentId, agent_name: `Agent ${agentId}`, host: '10.0.0.1', port: 8080, ...fields };
}
