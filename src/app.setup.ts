import { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { AppConfig } from './config/app-config';

const API_DESCRIPTION = `Long-running agents register where they live, keep a TTL lease alive with heartbeats, and find each other.

An agent is alive while \`now < expires_at\`, where \`expires_at = last_heartbeat + ttl_seconds\`. Errors are
\`application/problem+json\` (RFC 9457); the health endpoints answer with their own documents.`;

/**
 * Everything about the HTTP app that is not a module: the JSON body parser with its limit, and the OpenAPI docs.
 * main.ts and the e2e tests both call this, on an app created with `bodyParser: false`.
 */
export function configureApp(app: NestExpressApplication, config: AppConfig): void {
  app.disable('x-powered-by');
  app.useBodyParser('json', { limit: config.bodyLimitBytes, type: ['application/json', 'application/*+json'] });

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Agent Registry')
      .setDescription(API_DESCRIPTION)
      .setVersion('1.0.0')
      .setLicense('MIT', 'https://opensource.org/license/mit')
      .addServer('/', 'This registry')
      .build(),
  );
  // No operation needs credentials yet; say so explicitly rather than leave it undefined.
  document.security = [];
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json', yamlDocumentUrl: 'docs-yaml' });
}
