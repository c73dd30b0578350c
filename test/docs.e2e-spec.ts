import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { createTestDatabase, onEachDatabase, TestDatabase } from './support/databases';
import { ServerProcess } from './support/server-process';

const ROOT = join(__dirname, '..');
const OPENAPI_TYPESCRIPT = join(ROOT, 'node_modules', '.bin', 'openapi-typescript');
const CLIENT_TYPES = join(ROOT, 'packages', 'client', 'src', 'openapi.ts');
/** The options `npm run client:types` gives openapi-typescript. */
const CLIENT_TYPES_OPTIONS = /openapi-typescript dist\/openapi\.json (.+) -o packages\/client\/src\/openapi\.ts/;

function packageJson(): { scripts: Record<string, string> } {
  return JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
}

interface Operation {
  summary?: string;
  description?: string;
  parameters?: { name: string; description?: string; schema?: { example?: unknown } }[];
  responses: Record<string, { content?: Record<string, unknown> }>;
}
interface Schema {
  properties: Record<string, { description?: string; example?: unknown; items?: unknown }>;
}
interface OpenApi {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

/** The OpenAPI document of the built server: it is what the Swagger CLI plugin produces from the code. */
describe.each(onEachDatabase())('API docs (built server on %s)', (dialect) => {
  let database: TestDatabase;
  let server: ServerProcess;
  let doc: OpenApi;

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    server = await ServerProcess.start({ DATABASE_URL: database.url });
    doc = (await (await server.fetch('/docs-json')).json()) as OpenApi;
  });

  afterAll(async () => {
    await server?.stop();
    await database?.drop();
  });

  it('serves Swagger UI at /docs from local assets', async () => {
    const page = await server.fetch('/docs');
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('swagger-ui');
    expect((await server.fetch('/docs/swagger-ui-bundle.js')).status).toBe(200);
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
    // 401 and 403 only while REGISTRY_OPEN_ROUTES leaves out the probes; never rate limited.
    expect(responses('/health/live', 'get')).toEqual(['200', '401', '403']);
    expect(responses('/health/ready', 'get')).toEqual(['200', '401', '403', '503']);
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

  it('passes `redocly lint` without errors', async () => {
    const file = join(database.dir, 'openapi.json');
    writeFileSync(file, JSON.stringify(doc));
    const redocly = join(__dirname, '..', 'node_modules', '.bin', 'redocly');
    const result = await promisify(execFile)(redocly, ['lint', file, '--format=stylish'], {
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
    }).catch((error: { stdout: string; stderr: string }) => ({ ...error, failed: true }));
    expect({ ...result, failed: 'failed' in result }).toMatchObject({ failed: false });
    expect(`${result.stdout}${result.stderr}`).toContain('Your API description is valid');
  });

  it('matches the client types checked in (packages/client/src/openapi.ts): `npm run client:types` regenerates them', async () => {
    const file = join(database.dir, 'openapi.json');
    const generated = join(database.dir, 'openapi.ts');
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
    const args = command!.replace('http://registry:3000', server.url).split(' ');
    await promisify(execFile)(OPENAPI_TYPESCRIPT, args, { cwd: database.dir });
    const output = join(database.dir, args[args.indexOf('-o') + 1]);
    expect(readFileSync(output, 'utf8')).toBe(readFileSync(CLIENT_TYPES, 'utf8'));

    // A registration without ttl_seconds (or any other defaulted field) type-checks, one without host does not, and
    // what the registry always answers (AgentInfo.ttl_seconds) is required.
    const program = join(database.dir, 'program.ts');
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
  });
});
