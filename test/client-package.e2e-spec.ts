import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { onEachDatabase } from './support/databases';
import { serverForSuite } from './support/server-process';
import { tempDir } from './support/temp-dir';

const ROOT = join(__dirname, '..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const run = promisify(execFile);

/**
 * What a user does with the client package: `npm pack` it, install the tarball into an empty project with no network,
 * compile a program against it under each module resolution TypeScript users have, and run it (require and import)
 * and the installed CLI against the built server.
 */

/** The environment of the npm, tsc and node runs: the test runner's, without what an `npm test` above set for itself. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
  return { ...env, NO_COLOR: '1', ...extra };
}

/**
 * One program, compiled as it is under each mode. It registers without `ttl_seconds` (the registry defaults it), reads
 * `ttl_seconds` of the answer as a number (always sent), and a registration without `host` must not compile.
 */
const PROGRAM = `import { errorSummary, RegistryClient, RegistryError, type AgentInfo, type AgentRegistration } from '@agent-registry/client';
import { keysFileLine } from '@agent-registry/client/keys-file';

const registration: AgentRegistration = { agent_id: process.argv[3], agent_name: 'Packed', host: '10.0.0.9', port: 9000 };
// @ts-expect-error host is required
const incomplete: AgentRegistration = { agent_id: 'x', agent_name: 'x', port: 1 };
void incomplete;

async function main(): Promise<void> {
  const client = new RegistryClient({ url: process.argv[2] });
  const agent: AgentInfo = await client.registerOnce(registration);
  const ttl: number = agent.ttl_seconds;
  const missing = await client.get('nobody').catch((error: unknown) => error);
  const status = missing instanceof RegistryError ? missing.status : errorSummary(missing);
  const role = keysFileLine('k', 'reader', 'a-secret-0123456789abc').split(' ')[1];
  console.log(JSON.stringify({ agent_id: agent.agent_id, ttl, status, role }));
}

main().catch((error: unknown) => {
  console.error(errorSummary(error));
  process.exitCode = 1;
});
`;

interface Mode {
  name: string;
  file: string;
  options: string[];
  /** Where the package's declarations must come from in this mode. */
  types: 'cjs' | 'esm';
  /** The compiled program, run by node; none for bundler resolution (a bundler would run it). */
  output?: string;
}

const COMMON = ['--strict', '--target', 'es2022', '--skipLibCheck', 'false', '--types', 'node', '--listFiles'];
const MODES: Mode[] = [
  {
    name: 'module commonjs, moduleResolution node10',
    file: 'program.ts',
    options: ['--module', 'commonjs', '--moduleResolution', 'node10', '--outDir', 'out/node10'],
    types: 'cjs',
    output: 'out/node10/program.js',
  },
  {
    name: 'module nodenext, a CommonJS file',
    file: 'program.cts',
    options: ['--module', 'nodenext', '--outDir', 'out/nodenext'],
    types: 'cjs',
    output: 'out/nodenext/program.cjs',
  },
  {
    name: 'module nodenext, an ES module',
    file: 'program.mts',
    options: ['--module', 'nodenext', '--outDir', 'out/nodenext'],
    types: 'esm',
    output: 'out/nodenext/program.mjs',
  },
  {
    name: 'moduleResolution bundler',
    file: 'program.ts',
    options: ['--module', 'esnext', '--moduleResolution', 'bundler', '--noEmit'],
    types: 'esm',
  },
];

describe('@agent-registry/client, packed and installed into an empty project', () => {
  let dir: string;
  let remove: () => void;
  let project: string;
  let tarball: string;
  const packed: string[] = [];
  const compiled = new Map<string, string>();
  let readmeCheck: { stdout: string; stderr: string };

  beforeAll(async () => {
    ({ dir, remove } = tempDir());
    // --ignore-scripts: pack the build the suite runs on (`npm test` builds first), without rebuilding it under the
    // feet of other suites; a user's `npm pack` runs prepack, which builds.
    const pack = await run(
      'npm',
      ['pack', '-w', '@agent-registry/client', '--ignore-scripts', '--json', '--pack-destination', dir],
      { cwd: ROOT, env: cleanEnv() },
    );
    const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
    tarball = join(dir, info.filename);
    packed.push(...info.files.map((file) => file.path));

    project = join(dir, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    // Offline, with an empty cache of its own: the package has no dependencies, so nothing is fetched.
    await run('npm', ['install', tarball, '--offline', '--no-audit', '--no-fund', '--cache', join(dir, 'npm-cache')], {
      cwd: project,
      env: cleanEnv(),
    });

    // The repository's @types/node (--typeRoots) stands for the user's: the program uses `process`.
    for (const file of new Set(MODES.map((mode) => mode.file))) writeFileSync(join(project, file), PROGRAM);
    for (const mode of MODES) {
      const result = await run(
        process.execPath,
        [TSC, ...COMMON, '--typeRoots', join(ROOT, 'node_modules', '@types'), ...mode.options, mode.file],
        { cwd: project, env: cleanEnv() },
      ).catch((error: { stdout: string; stderr: string }) => ({ ...error, failed: true }));
      compiled.set(mode.name, 'failed' in result ? `FAILED\n${result.stdout}${result.stderr}` : result.stdout);
    }

    // README's example, as an ES module (it awaits at the top level), with the two values it leaves to the reader.
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const example = /### The TypeScript client\n[^]*?```ts\n([^]*?)```/.exec(readme)?.[1] ?? 'README has no example';
    writeFileSync(join(project, 'readme.mts'), `declare const host: string;\ndeclare const port: number;\n${example}`);
    readmeCheck = await run(
      process.execPath,
      [TSC, '--strict', '--target', 'es2022', '--module', 'nodenext', '--noEmit', 'readme.mts'],
      { cwd: project, env: cleanEnv() },
    ).catch((error: { stdout: string }) => ({ stdout: error.stdout, stderr: 'failed' }));
  }, 120_000);

  afterAll(() => remove?.());

  it('packs the builds, the bin and package.json only: no sources, specs or build files', () => {
    expect(packed).toEqual(
      expect.arrayContaining([
        'package.json',
        'bin/agent-registry.cjs',
        'dist/cjs/index.js',
        'dist/cjs/index.d.ts',
        'dist/cjs/package.json',
        'dist/cjs/cli/main.js',
        'dist/esm/index.js',
        'dist/esm/index.d.ts',
        'dist/cjs/keys-file.js',
        'dist/esm/keys-file.js',
      ]),
    );
    expect(packed.filter((path) => !/^(dist\/(cjs|esm)\/|bin\/|package\.json$|README\.md$)/.test(path))).toEqual([]);
    expect(packed.filter((path) => /\.spec\.|\.ts$/.test(path) && !path.endsWith('.d.ts'))).toEqual([]);
    expect(packed.filter((path) => path.startsWith('dist/esm/cli/'))).toEqual([]);
  });

  it('installs with nothing else: no dependencies', () => {
    const installed = readdirSync(join(project, 'node_modules')).filter((name) => !name.startsWith('.'));
    expect(installed).toEqual(['@agent-registry']);
    expect(readdirSync(join(project, 'node_modules', '@agent-registry'))).toEqual(['client']);
    const manifest = JSON.parse(
      readFileSync(join(project, 'node_modules', '@agent-registry', 'client', 'package.json'), 'utf8'),
    ) as Record<string, unknown>;
    expect(manifest.dependencies).toBeUndefined();
    expect(manifest.private).toBeUndefined();
  });

  it.each(MODES.map((mode) => [mode.name, mode] as const))(
    'type-checks a program against its declarations under %s',
    (_name, mode) => {
      const listed = compiled.get(mode.name)!;
      expect(listed).not.toMatch(/^FAILED/);
      // The declarations this mode must pick, for the main entry and the keys-file subpath, and not the others.
      const other = mode.types === 'cjs' ? 'esm' : 'cjs';
      for (const entry of ['index', 'keys-file']) {
        expect(listed).toContain(`node_modules/@agent-registry/client/dist/${mode.types}/${entry}.d.ts`);
      }
      expect(listed).not.toContain(`node_modules/@agent-registry/client/dist/${other}/`);
    },
  );

  it("type-checks README's example against it", () => {
    expect(readmeCheck).toEqual({ stdout: '', stderr: '' });
  });

  describe.each(onEachDatabase())('against the built server on %s', (dialect) => {
    const suite = serverForSuite(dialect);

    it.each(MODES.filter((mode) => mode.output).map((mode) => [mode.name, mode] as const))(
      'runs the program compiled under %s',
      async (_name, mode) => {
        const id = `packed-${mode.output!.replace(/\W+/g, '-')}`;
        const { stdout } = await run(process.execPath, [mode.output!, suite.server.url, id], {
          cwd: project,
          env: cleanEnv(),
        });
        expect(JSON.parse(stdout)).toEqual({ agent_id: id, ttl: 60, status: 404, role: 'reader' });
      },
    );

    it('requires and imports the package, with the same exports either way', async () => {
      const cjs = await run(
        process.execPath,
        ['-e', "const c = require('@agent-registry/client'); console.log(Object.keys(c).sort().join(','))"],
        { cwd: project, env: cleanEnv() },
      );
      const esm = await run(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          "const c = await import('@agent-registry/client'); console.log(Object.keys(c).sort().join(','))",
        ],
        { cwd: project, env: cleanEnv() },
      );
      expect(cjs.stdout).toBe(esm.stdout);
      expect(cjs.stdout.trim().split(',')).toEqual(
        expect.arrayContaining(['Lease', 'RegistryClient', 'RegistryError', 'Watch', 'errorSummary', 'queryString']),
      );
    });

    it('runs the installed CLI with npx, offline', async () => {
      const env = cleanEnv({ AGENT_REGISTRY_URL: suite.server.url, npm_config_cache: join(dir, 'npm-cache') });
      // --no: a command npx does not find installed is an error, never a download.
      const help = await run('npx', ['--no', '--offline', 'agent-registry', '--help'], { cwd: project, env });
      expect(help.stdout).toMatch(/^agent-registry: find, watch and manage the agents/);
      await run(process.execPath, ['out/node10/program.js', suite.server.url, 'via-cli'], { cwd: project, env });
      const got = await run('npx', ['--no', '--offline', 'agent-registry', 'get', 'via-cli'], { cwd: project, env });
      expect(JSON.parse(got.stdout)).toMatchObject({ agent_id: 'via-cli', ttl_seconds: 60, is_alive: true });
      const missing = await run('npx', ['--no', '--offline', 'agent-registry', 'get', 'nobody'], {
        cwd: project,
        env,
      }).catch((error: { code: number; stderr: string }) => error);
      expect(missing).toMatchObject({ code: 1, stderr: 'agent-registry: Agent not found: nobody\n' });
    });
  });
});
