import { Controller, Get, INestApplication } from '@nestjs/common';
import { ApiOkResponse, ApiOperation } from '@nestjs/swagger';
import { Test } from '@nestjs/testing';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { Script } from 'node:vm';
import type { Browser, Page } from 'playwright-core';
import { boundPort, configureApp, createAppHttpAdapter } from '../src/app.setup';
import { loadConfig } from '../src/app.config';
import { APP_CONFIG } from '../src/config/environment';
import { chromiumInstalled, launchChromium } from './support/browser';
import { onEachDatabase } from './support/databases';
import { testHttpAdapter } from './support/http-adapter';
import { waitFor } from './support/prometheus';
import { serverForSuite } from './support/server-process';

const ROOT = join(__dirname, '..');
const OPENAPI_TYPESCRIPT = join(ROOT, 'node_modules', '.bin', 'openapi-typescript');
const CLIENT_TYPES = join(ROOT, 'packages', 'client', 'src', 'openapi.ts');
/** The options `npm run client:types` gives openapi-typescript. */
const CLIENT_TYPES_OPTIONS = /openapi-typescript dist\/openapi\.json (.+) -o packages\/client\/src\/openapi\.ts/;

function packageJson(): { scripts: Record<string, string> } {
  return JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
}

interface Operation {
  operationId?: string;
  summary?: string;
  description?: string;
  parameters?: { name: string; description?: string; schema?: { example?: unknown } }[];
  responses: Record<string, { content?: Record<string, unknown> }>;
}
interface Schema {
  properties: Record<string, { description?: string; example?: unknown; items?: unknown }>;
}
interface OpenApi {
  info: { version: string };
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema>; securitySchemes: Record<string, { bearerFormat?: string }> };
}

/** Every operation of a document, as `METHOD /path`, in the document's order. */
const operationsOf = (doc: OpenApi) =>
  Object.entries(doc.paths).flatMap(([path, operations]) =>
    Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
  );

/** The OpenAPI document of the built server: it is what the Swagger CLI plugin produces from the code. */
describe.each(onEachDatabase())('API docs (built server on %s)', (dialect) => {
  const suite = serverForSuite(dialect);
  let doc: OpenApi;

  beforeAll(async () => {
    doc = (await (await suite.server.fetch('/docs-json')).json()) as OpenApi;
  });

  it('serves Swagger UI at /docs from local assets', async () => {
    const page = await suite.server.fetch('/docs');
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('swagger-ui');
    expect((await suite.server.fetch('/docs/swagger-ui-bundle.js')).status).toBe(200);
    // helmet's policy, without upgrade-insecure-requests (the page works over plain HTTP); the API keeps it.
    const policy = page.headers.get('content-security-policy');
    expect(policy).toContain("script-src 'self'");
    expect(policy).not.toContain('upgrade-insecure-requests');
    expect((await suite.server.fetch('/health/live')).headers.get('content-security-policy')).toContain(
      'upgrade-insecure-requests',
    );
  });

  it('gives Swagger UI an init script that parses and fetches /docs-json (once broken by a `$` and a backquote)', async () => {
    // The labels description holds LABEL_KEY_PATTERN, whose `$` and backquote were read as `` $` ``.
    expect(JSON.stringify(doc)).toContain('$`');
    const init = await (await suite.server.fetch('/docs/swagger-ui-init.js')).text();
    expect(() => new Script(init)).not.toThrow();
    expect(init).toContain('"swaggerUrl": "/docs-json"');
    expect(init).not.toContain('Long-running agents');
  });

  it('names every operation as a call, says which version it documents, and calls the keys opaque', () => {
    const operationIds = Object.fromEntries(
      Object.entries(doc.paths).flatMap(([path, operations]) =>
        Object.entries(operations).map(([method, op]) => [`${method.toUpperCase()} ${path}`, op.operationId]),
      ),
    );
    expect(operationIds).toEqual({
      'POST /agents/register': 'registerAgent',
      'POST /agents/{agent_id}/heartbeat': 'renewLease',
      'GET /agents': 'listAgents',
      'GET /agents/{agent_id}': 'getAgent',
      'DELETE /agents/{agent_id}': 'deregisterAgent',
      'GET /agents/{agent_id}/card': 'getAgentCard',
      'POST /admin/expiry-guard/release': 'releaseExpiryGuard',
      'GET /sd/prometheus': 'listPrometheusTargets',
      'GET /health': 'getHealth',
      'GET /health/live': 'checkLiveness',
      'GET /health/ready': 'checkReadiness',
      'GET /events': 'watchEvents',
      'GET /metrics': 'getMetrics',
    });
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(doc.info.version).toBe(version);
    expect(doc.components.securitySchemes.bearer.bearerFormat).toBe('API key');
  });

  it('documents every operation with its success and error responses', () => {
    const responses = (path: string, method: string) => Object.keys(doc.paths[path]?.[method]?.responses ?? {});
    expect(responses('/agents/register', 'post')).toEqual([
      '200',
      '400',
      '401',
      '403',
      '413',
      '415',
      '429',
      '500',
      '503',
    ]);
    expect(responses('/agents/{agent_id}/heartbeat', 'post')).toEqual([
      '200',
      '400',
      '401',
      '403',
      '404',
      '429',
      '500',
      '503',
    ]);
    expect(responses('/agents', 'get')).toEqual(['200', '400', '401', '403', '429', '500', '503']);
    expect(responses('/agents/{agent_id}', 'get')).toEqual(['200', '400', '401', '403', '404', '429', '500', '503']);
    expect(responses('/agents/{agent_id}', 'delete')).toEqual(['200', '400', '401', '403', '404', '429', '500', '503']);
    expect(responses('/health', 'get')).toEqual(['200', '401', '403', '429', '503']);
    // 401, 403 and 429 (AUTH_FAILURE_LIMIT) only while REGISTRY_OPEN_ROUTES leaves out the probes; never rate limited.
    expect(responses('/health/live', 'get')).toEqual(['200', '401', '403', '429']);
    expect(responses('/health/ready', 'get')).toEqual(['200', '401', '403', '429', '503']);
  });

  it('gives every operation a summary and a description, and every parameter a description and an example', () => {
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(operations)) {
        expect({ path, method, summary: op.summary }).toEqual({ path, method, summary: expect.any(String) });
        expect({ path, method, description: op.description }).toEqual({
          path,
          method,
          description: expect.any(String),
        });
        for (const param of op.parameters ?? []) {
          expect({ path, param: param.name, description: param.description }).toEqual({
            path,
            param: param.name,
            description: expect.any(String),
          });
          expect(param.schema?.example).toBeDefined();
        }
      }
    }
  });

  it('documents registry errors as application/problem+json with an example', () => {
    for (const [path, operations] of Object.entries(doc.paths).filter(([p]) => p.startsWith('/agents'))) {
      for (const op of Object.values(operations)) {
        for (const [status, response] of Object.entries(op.responses).filter(([s]) => Number(s) >= 400)) {
          const content = response.content?.['application/problem+json'] as { example?: { status: number } };
          expect({ path, status, example: content?.example?.status }).toEqual({
            path,
            status,
            example: Number(status),
          });
        }
      }
    }
  });

  it('describes every field of every schema, with an example', () => {
    for (const [name, schema] of Object.entries(doc.components.schemas)) {
      for (const [field, property] of Object.entries(schema.properties)) {
        expect({ name, field, description: property.description }).toEqual({
          name,
          field,
          description: expect.any(String),
        });
        // Arrays are exemplified by their items' schema.
        const hasExample = property.items !== undefined || property.example !== undefined;
        expect({ name, field, hasExample }).toEqual({ name, field, hasExample: true });
      }
    }
  });

  it('passes `redocly lint` without an error or a warning', async () => {
    const file = join(suite.database.dir, 'openapi.json');
    writeFileSync(file, JSON.stringify(doc));
    const redocly = join(ROOT, 'node_modules', '.bin', 'redocly');
    const result = await promisify(execFile)(redocly, ['lint', file, '--format=json'], {
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
    }).catch((error: { stdout: string; stderr: string }) => ({ ...error, failed: true }));
    const report = JSON.parse(result.stdout) as {
      totals: Record<string, number>;
      problems: { ruleId: string; message: string; location: { pointer: string }[] }[];
    };
    const problems = report.problems.map((p) => `${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`);
    expect({ problems, totals: report.totals, failed: 'failed' in result }).toEqual({
      problems: [],
      totals: { errors: 0, warnings: 0, ignored: 0 },
      failed: false,
    });
  });

  it('matches the client types checked in (packages/client/src/openapi.ts): `npm run client:types` regenerates them', async () => {
    const file = join(suite.database.dir, 'openapi.json');
    const generated = join(suite.database.dir, 'openapi.ts');
    writeFileSync(file, JSON.stringify(doc));
    // Generated as `npm run client:types` does it, with the options it gives openapi-typescript.
    const options = CLIENT_TYPES_OPTIONS.exec(packageJson().scripts['client:types'])?.[1];
    expect(options).toBeDefined();
    await promisify(execFile)(OPENAPI_TYPESCRIPT, [file, ...options!.split(' '), '-o', generated]);
    expect(readFileSync(generated, 'utf8')).toBe(readFileSync(CLIENT_TYPES, 'utf8'));
  });

  it('gives a user who generates types from /docs-json as README says the same types: defaulted fields optional', async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const command = /^npx openapi-typescript (http:\/\/registry:3000\/docs-json .*)$/m.exec(readme)?.[1];
    expect(command).toBeDefined();
    // The repository's openapi-typescript, for the one npx would fetch; the served document for the README's host.
    const args = command!.replace('http://registry:3000', suite.server.url).split(' ');
    await promisify(execFile)(OPENAPI_TYPESCRIPT, args, { cwd: suite.database.dir });
    const output = join(suite.database.dir, args[args.indexOf('-o') + 1]);
    expect(readFileSync(output, 'utf8')).toBe(readFileSync(CLIENT_TYPES, 'utf8'));

    // A registration without ttl_seconds (or any other defaulted field) type-checks, one without host does not, and
    // what the registry always answers (AgentInfo.ttl_seconds) is required.
    const program = join(suite.database.dir, 'program.ts');
    writeFileSync(
      program,
      [
        `import type { components } from './${basename(output, '.ts')}';`,
        "type Registration = components['schemas']['RegisterAgentRequest'];",
        "const registration: Registration = { agent_id: 'planner-7', agent_name: 'Planner', host: '10.0.4.17', port: 8080 };",
        '// @ts-expect-error host is required',
        "const incomplete: Registration = { agent_id: 'x', agent_name: 'x', port: 1 };",
        "export const ttl = (agent: components['schemas']['AgentInfo']): number => agent.ttl_seconds;",
        'export { registration, incomplete };',
        '',
      ].join('\n'),
    );
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await promisify(execFile)(process.execPath, [tsc, '--strict', '--noEmit', program]).catch(
      (error: { stdout: string }) => ({ stdout: error.stdout, failed: true }),
    );
    expect(result).toEqual({ stdout: '', stderr: '' });
    // Two compilers in child processes: on a loaded two-core machine they took over 30 s.
  }, 120_000);
});

// Debian's chromium: .ci/run installs it, and in CI a missing one fails these tests instead of skipping them.
const withChromium = chromiumInstalled() || process.env.CI ? describe : describe.skip;
if (!chromiumInstalled() && !process.env.CI) {
  console.warn('SKIPPING the Swagger UI browser tests: /usr/bin/chromium is not installed (apt-get install chromium).');
}

const AGENT_SECRET = 'docs-agent-0123456789';

/** A name other than localhost for this host: browsers treat a plain-HTTP page there as they would a remote one. */
const OTHER_HOST = 'registry.test';

/**
 * Chromium's note that helmet's Cross-Origin-Opener-Policy does nothing on a plain-HTTP origin other than localhost:
 * it logs it as an error, and it says nothing about the page.
 */
const COOP_IGNORED =
  /^The Cross-Origin-Opener-Policy header has been ignored, because the URL's origin was untrustworthy/;

/** Every page error and console error of a page, as lines; a test ends by expecting none. */
function errorsOf(page: Page, ignored?: RegExp): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !ignored?.test(message.text())) errors.push(`console: ${message.text()}`);
  });
  return errors;
}

/** The operations Swagger UI shows, as `METHOD /path`, once it shows `count` of them; each must be visible. */
async function renderedOperations(page: Page, count: number): Promise<string[]> {
  const blocks = page.locator('.opblock');
  await waitFor(async () => ((await blocks.count()) >= count ? true : undefined), 15_000, `${count} operations`);
  const shown: string[] = [];
  for (const block of await blocks.all()) {
    const method = await block.locator('.opblock-summary-method').innerText();
    const path = await block.locator('.opblock-summary-path').getAttribute('data-path');
    shown.push(`${(await block.isVisible()) ? '' : 'HIDDEN '}${method} ${path}`);
  }
  return shown;
}

/** Clicks "Execute" in an expanded operation and returns the status and body the UI then shows. */
async function execute(operation: ReturnType<Page['locator']>): Promise<{ status: string; body: string }> {
  await operation.getByRole('button', { name: 'Execute' }).click();
  const status = operation.locator('.live-responses-table tbody .response-col_status');
  await status.waitFor();
  const body = operation.locator('.live-responses-table .response-col_description pre').first();
  await body.waitFor();
  return { status: (await status.innerText()).trim(), body: await body.innerText() };
}

/**
 * Swagger UI at /docs in a real browser, on the built server. SQLite only: the page shows the OpenAPI document,
 * which is the same on both databases, and the calls it makes are the API's, which the other suites check on both.
 */
withChromium('Swagger UI in Chromium (built server on sqlite)', () => {
  const suite = serverForSuite('sqlite', { REGISTRY_API_KEYS: `docs-agent:agent:${AGENT_SECRET}` });
  let browser: Browser;
  let doc: OpenApi;

  beforeAll(async () => {
    browser = await launchChromium([`--host-resolver-rules=MAP ${OTHER_HOST} 127.0.0.1`]);
    doc = (await (await suite.server.fetch('/docs-json')).json()) as OpenApi;
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  it('shows every operation; "Authorize" with a key, then "Try it out" registers an agent and lists it', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const errors = errorsOf(page);
      const calls: { path: string; authorization?: string }[] = [];
      page.on('request', (req) => {
        const path = new URL(req.url()).pathname;
        if (path.startsWith('/agents')) calls.push({ path, authorization: req.headers().authorization });
      });
      await page.goto(`${suite.server.url}/docs`);
      expect(await renderedOperations(page, operationsOf(doc).length)).toEqual(operationsOf(doc));

      await page.getByRole('button', { name: 'Authorize' }).first().click();
      const dialog = page.locator('.modal-ux');
      await dialog.getByLabel('auth-bearer-value').fill(AGENT_SECRET);
      await dialog.getByRole('button', { name: 'Apply credentials' }).first().click();
      await dialog.getByRole('button', { name: 'Remove authorization' }).first().waitFor();
      await dialog.getByRole('button', { name: 'Close' }).first().click();
      await dialog.waitFor({ state: 'detached' });

      // The examples as they are: the registration's, then every filter's, which find that agent.
      const register = page.locator('#operations-agents-registerAgent');
      await register.locator('.opblock-summary').click();
      await register.getByRole('button', { name: 'Try it out' }).click();
      const registered = await execute(register);
      expect(registered.status).toBe('200');
      expect(JSON.parse(registered.body)).toMatchObject({ agent_id: 'planner-7', is_alive: true });

      const list = page.locator('#operations-agents-listAgents');
      await list.locator('.opblock-summary').click();
      await list.getByRole('button', { name: 'Try it out' }).click();
      const listed = await execute(list);
      expect(listed.status).toBe('200');
      expect((JSON.parse(listed.body) as { agent_id: string }[]).map((a) => a.agent_id)).toEqual(['planner-7']);

      expect(calls).toEqual([
        { path: '/agents/register', authorization: `Bearer ${AGENT_SECRET}` },
        { path: '/agents', authorization: `Bearer ${AGENT_SECRET}` },
      ]);
      expect((await suite.server.fetch('/agents/planner-7')).status).toBe(401);
      const stored = await suite.server.fetch('/agents/planner-7', {
        headers: { Authorization: `Bearer ${AGENT_SECRET}` },
      });
      expect(stored.status).toBe(200);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);

  it('works over plain HTTP from another host, and loads nothing from anywhere else', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const errors = errorsOf(page, COOP_IGNORED);
      const origins = new Set<string>();
      page.on('request', (req) => origins.add(new URL(req.url()).origin));
      const url = suite.server.url.replace('127.0.0.1', OTHER_HOST);
      await page.goto(`${url}/docs`);
      expect(await renderedOperations(page, operationsOf(doc).length)).toEqual(operationsOf(doc));
      // No validator badge: a link to validator.swagger.io and its image, which would show with the operations.
      expect(await page.locator('a[href*="validator"]').count()).toBe(0);
      expect([...origins]).toEqual([url]);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);
});

/** Texts that a document spliced into a script by String.replace (or into HTML) would be corrupted by. */
const HOSTILE = "$` $' $& $$ $1 </script><script>window.hacked = true</script> <!-- ${x} \u2028 \"'";

@Controller('hostile')
class HostileController {
  @ApiOperation({ operationId: 'hostile', summary: HOSTILE, description: HOSTILE })
  @ApiOkResponse({ description: HOSTILE, schema: { type: 'string', example: HOSTILE } })
  @Get()
  get(): string {
    return HOSTILE;
  }
}

withChromium('Swagger UI in Chromium: no text of the document can break the page', () => {
  let browser: Browser;
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    browser = await launchChromium();
    // An app of one route, set up as the registry's is (configureApp, the HTTP adapter with helmet).
    const config = loadConfig({ DATABASE_URL: 'sqlite::memory:', HTTP_ADAPTER: testHttpAdapter(), LOG_LEVEL: 'fatal' });
    const moduleRef = await Test.createTestingModule({
      controllers: [HostileController],
      providers: [{ provide: APP_CONFIG, useValue: config }],
    }).compile();
    app = moduleRef.createNestApplication(createAppHttpAdapter(config), { bodyParser: false, logger: false });
    configureApp(app);
    await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${boundPort(app)}`;
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  it("shows `$`, `$'`, `$&`, `</script>` and the like as the text they are", async () => {
    const init = await (await fetch(`${url}/docs/swagger-ui-init.js`)).text();
    expect(() => new Script(init)).not.toThrow();
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const errors = errorsOf(page);
      await page.goto(`${url}/docs`);
      expect(await renderedOperations(page, 1)).toEqual(['GET /hostile']);
      const operation = page.locator('.opblock');
      expect(await operation.locator('.opblock-summary-description').innerText()).toBe(HOSTILE);
      await operation.locator('.opblock-summary').click();
      const example = operation.locator('.responses-wrapper .example').first();
      await example.waitFor();
      expect(JSON.parse(await example.innerText())).toBe(HOSTILE);
      expect(await page.evaluate('window.hacked')).toBeUndefined();
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);
});
