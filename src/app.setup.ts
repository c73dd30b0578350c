import { INestApplication } from '@nestjs/common';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { existsSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { dirname, join } from 'node:path';
import { AbstractHttpAdapter } from '@nestjs/core';
import { API_KEY_SCHEME } from './auth/access.decorator';
import { docsGate } from './auth/docs-gate';
import { DOCS_PATHS } from './common/docs-paths';
import { createHttpAdapter } from './common/http-adapter';
import { timeRequest } from './metrics/http-metrics';
import { AppConfig } from './app.config';
import { APP_CONFIG } from './config/environment';

const API_DESCRIPTION = `Long-running agents register where they live, keep a TTL lease alive with heartbeats, and find each other.

An agent is alive while \`now < expires_at\`, where \`expires_at = last_heartbeat + ttl_seconds\`. Errors are
\`application/problem+json\` (RFC 9457); the health endpoints answer with their own documents.`;

/**
 * The HTTP adapter (HTTP_ADAPTER) with the registry's hooks below Nest: HTTP metrics time every request, and the docs
 * gate guards the docs while REGISTRY_OPEN_ROUTES leaves them out. main.ts and the e2e tests both create it so.
 */
export function createAppHttpAdapter(config: AppConfig): AbstractHttpAdapter {
  return createHttpAdapter(config, { onRequest: timeRequest, docsGate: docsGate(config.auth) });
}

/**
 * Everything about the HTTP app that is neither a module nor the HTTP adapter (createAppHttpAdapter): CORS and the
 * OpenAPI docs. main.ts and the e2e tests both call this, before the app is initialised.
 */
export function configureApp(app: INestApplication): void {
  const { corsOrigins } = app.get<AppConfig>(APP_CONFIG);
  // Browsers may call the API from CORS_ORIGINS only; without it, from no other origin.
  if (corsOrigins.length > 0) {
    app.enableCors({
      origin: corsOrigins,
      allowedHeaders: ['Authorization', 'X-API-Key', 'Content-Type', 'If-None-Match', 'Last-Event-ID', 'X-Request-Id'],
      exposedHeaders: [
        'Link',
        'X-Registry-Revision',
        'X-Registry-Position',
        'X-Request-Id',
        'Retry-After',
        'WWW-Authenticate',
        'ETag',
      ],
      maxAge: 600,
    });
  }
  SwaggerModule.setup(DOCS_PATHS.ui, app, openApiDocument(app), {
    ui: false,
    jsonDocumentUrl: DOCS_PATHS.json,
    yamlDocumentUrl: DOCS_PATHS.yaml,
  });
  // Swagger UI's init script would carry the document, spliced in by String.replace: `$&`, `` $` `` or `$'` in any
  // text of it are replacement patterns there, and break the script (a blank page). So the page gets an empty
  // document, which makes it fetch swaggerUrl: the JSON document, which no text can break.
  SwaggerModule.setup(DOCS_PATHS.ui, app, () => ({}) as OpenAPIObject, {
    raw: false,
    swaggerUrl: DOCS_PATHS.json,
    // Without a document inline, Swagger UI would show a badge fetched from validator.swagger.io with this URL.
    swaggerOptions: { validatorUrl: null },
  });
}

/** The OpenAPI document of the app: served at /docs, and the source of the client's types (src/openapi.ts). */
export function openApiDocument(app: INestApplication): OpenAPIObject {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Agent Registry')
      .setDescription(API_DESCRIPTION)
      .setVersion(registryVersion())
      .setLicense('MIT', 'https://opensource.org/license/mit')
      .addServer('/', 'This registry')
      // Our keys are opaque secrets, not JWTs (Nest's default bearerFormat).
      .addBearerAuth({
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'API key',
        description: 'An API key (REGISTRY_API_KEYS_FILE).',
      })
      .addApiKey(
        { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'The same key, in its own header.' },
        API_KEY_SCHEME,
      )
      .build(),
  );
  return document;
}

/**
 * The version in the root package.json, found from src/ (ts-jest, ts-node) and dist/src/ (the build) alike: the
 * nearest package.json up from here named agent-registry; `unknown` without one.
 */
function registryVersion(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const { name, version } = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (name === 'agent-registry' && version) return version;
  }
  // A build deployed without its package.json still serves its docs.
  return 'unknown';
}

/** The port a listening app is bound to (the one the system picked, with PORT=0). */
export function boundPort(app: INestApplication): number {
  const address = (app.getHttpServer() as Server).address();
  return typeof address === 'object' && address !== null ? address.port : Number(address);
}
