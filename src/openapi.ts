import { NestFactory } from '@nestjs/core';
import { writeFileSync } from 'node:fs';
import { AppModule } from './app.module';
import { createAppHttpAdapter, openApiDocument } from './app.setup';
import { loadConfig } from './app.config';

/**
 * `npm run client:types`, step one: writes the OpenAPI document to the file named by the first argument, from an app
 * built on an in-memory database that never listens. openapi-typescript then turns it into packages/client/src/openapi.ts.
 */
async function main(): Promise<void> {
  const config = loadConfig({ DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'error', CLEANUP_CRON: 'off' });
  const app = await NestFactory.create(AppModule.forRoot(config), createAppHttpAdapter(config), {
    bodyParser: false,
    logger: config.logLevels,
  });
  await app.init();
  writeFileSync(process.argv[2], JSON.stringify(openApiDocument(app), null, 2));
  await app.close();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
