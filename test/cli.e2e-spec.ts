import { ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { keysFileLine } from '../src/auth/api-keys';
import { createTestDatabase, onEachDatabase, TestDatabase } from './support/databases';
import { ServerProcess } from './support/server-process';
import { TcpProxy } from './support/tcp-proxy';
import { agent } from './support/test-app';

const ROOT = join(__dirname, '..');
/** The client package's bin, as npm links it (`npx agent-registry` in this repository runs the same file). */
const CLI = join(
  ROOT,
  'packages',
  'client',
  (
    JSON.parse(readFileSync(join(ROOT, 'packages', 'client', 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
    }
  ).bin['agent-registry'],
);

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The built CLI in its own process, as a user runs it: no stdin, only the environment given (and PATH, HOME). */
class Cli {
  stdout = '';
  stderr = '';
  readonly result: Promise<Result>;
  private readonly child: ChildProcess;

  constructor(args: string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (chunk: Buffer) => (this.stdout += chunk.toString()));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.result = new Promise((resolve) =>
      this.child.once('close', (code, signal) => resolve({ code, signal, stdout: this.stdout, stderr: this.stderr })),
    );
  }

  /** Waits until the output so far matches. */
  async until(stream: 'stdout' | 'stderr', pattern: RegExp, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this[stream])) {
      if (Date.now() > deadline) throw new Error(`no ${pattern} in ${stream}:\n${this.stdout}\n---\n${this.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  interrupt(): Promise<Result> {
    this.child.kill('SIGINT');
    return this.result;
  }
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return new Cli(args, env).result;
}

async function until(probe: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** How many lines of `text` start with `start`. */
function lines(text: string, start: string): number {
  return text.split('\n').filter((line) => line.startsWith(start)).length;
}

/** A loopback HTTP server that counts the requests it gets and answers each with an empty list. */
async function countingRegistry(): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const server = createHttpServer((_request, response) => {
    requests++;
    response.writeHead(200, { 'Content-Type': 'application/json', 'X-Registry-Revision': '0' }).end('[]');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function register(server: ServerProcess, body: Record<string, unknown>, key?: string): Promise<void> {
  const res = await server.fetch('/agents/register', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(key ? { Authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
}

const CARD = {
  name: 'Planner',
  description: 'Plans multi-day trips.',
  version: '1.0.0',
  supportedInterfaces: [{ url: 'http://10.0.4.17:8080/a2a', protocolBinding: 'JSONRPC', protocolVersion: '1.0' }],
  skills: [{ id: 'plan-trip', name: 'Plan a trip', description: 'Builds an itinerary.', tags: ['travel'] }],
};

describe('agent-registry, the command line, against a registry without keys', () => {
  let database: TestDatabase;
  let server: ServerProcess;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    server = await ServerProcess.start({ DATABASE_URL: database.url });
    env = { AGENT_REGISTRY_URL: server.url };
    await register(server, agent('gone-1', { agent_name: 'Gone', ttl_seconds: 1 }));
    const expiresAt = Date.now() + 1000;
    await register(
      server,
      agent('planner-7', {
        agent_name: 'Trip Planner',
        host: '10.0.4.17',
        capabilities: ['planning', 'travel:booking'],
        labels: { region: 'eu-west-1' },
        agent_card: CARD,
      }),
    );
    await register(
      server,
      agent('search-1', {
        agent_name: 'Searcher',
        port: 8081,
        capabilities: ['search'],
        labels: { region: 'us-east-1' },
      }),
    );
    // gone-1's lease runs out; no cleanup runs, so it stays, expired.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now()) + 100));
  });

  afterAll(async () => {
    await server?.stop();
    await database?.drop();
  });

  describe('list', () => {
    it('prints the live agents as a table', async () => {
      const { code, stdout, stderr } = await cli(['list'], env);
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      const lines = stdout.trimEnd().split('\n');
      expect(lines[0].split(/\s{2,}/)).toEqual([
        'ID',
        'NAME',
        'ADDRESS',
        'CAPABILITIES',
        'STATE',
        'HEARTBEAT',
        'EXPIRES',
      ]);
      expect(lines.slice(1).map((line) => line.split(/\s{2,}/).slice(0, 5))).toEqual([
        ['planner-7', 'Trip Planner', '10.0.4.17:8080', 'planning,travel:booking', 'alive'],
        ['search-1', 'Searcher', '10.0.0.1:8081', 'search', 'alive'],
      ]);
      expect(lines[1]).toMatch(/alive {2}\d+s ago {4,}in \d+s$/);
    });

    it('shows agents whose lease ran out with --include-dead', async () => {
      const { code, stdout } = await cli(['list', '--include-dead'], env);
      expect(code).toBe(0);
      expect(stdout).toMatch(/^gone-1 +Gone +10\.0\.0\.1:8080 +- +expired +\d+s ago +\d+s ago$/m);
    });

    it('prints JSON with --json, with the filters of GET /agents', async () => {
      const ids = async (...args: string[]) => {
        const { code, stdout, stderr } = await cli(['list', '--json', ...args], env);
        expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
        return (JSON.parse(stdout) as { agent_id: string }[]).map((a) => a.agent_id);
      };
      expect(await ids()).toEqual(['planner-7', 'search-1']);
      expect(await ids('--capability', 'planning', '--label', 'region:eu-west-1')).toEqual(['planner-7']);
      expect(await ids('--capability', 'planning', '--capability', 'search')).toEqual([]);
      expect(await ids('--label', 'region:us-east-1')).toEqual(['search-1']);
      expect(await ids('--skill', 'travel')).toEqual(['planner-7']);
      expect(await ids('--q', 'MULTI-DAY')).toEqual(['planner-7']);
      expect(await ids('--name', 'search')).toEqual(['search-1']);
      expect(await ids('--include-dead')).toEqual(['gone-1', 'planner-7', 'search-1']);
    });

    it('prints one page with --limit, and on stderr the command of the next', async () => {
      const first = await cli(['list', '--limit', '1'], env);
      expect(first.code).toBe(0);
      expect(first.stdout).toMatch(/^planner-7 /m);
      const cursor = /More agents match; the next page: agent-registry list --limit 1 --cursor (\S+)\n$/.exec(
        first.stderr,
      )?.[1];
      expect(cursor).toBeDefined();
      const second = await cli(['list', '--limit', '1', '--cursor', cursor!, '--json'], env);
      expect(second.code).toBe(0);
      expect((JSON.parse(second.stdout) as { agent_id: string }[]).map((a) => a.agent_id)).toEqual(['search-1']);
      expect(second.stderr).toBe('');
    });

    it('gives the next page as a command that works as it is pasted, filters quoted, in a shell', async () => {
      await register(server, agent('owl-1', { agent_name: 'Night Owl 1' }));
      await register(server, agent('owl-2', { agent_name: "Night Owl's Friend" }));
      const first = await cli(['list', '--name', 'night owl', '--json', '--limit', '1'], env);
      expect(first.code).toBe(0);
      expect((JSON.parse(first.stdout) as { agent_id: string }[]).map((a) => a.agent_id)).toEqual(['owl-1']);
      const command = /^More agents match; the next page: (agent-registry list .*)\n$/.exec(first.stderr)?.[1];
      expect(command).toMatch(/^agent-registry list --name 'night owl' --json --limit 1 --cursor \S+$/);
      // As a user runs it: bash (--norc: a bash whose stdin is a socket reads ~/.bashrc), with the bin npm links in
      // this repository on the PATH.
      const second = await promisify(execFile)('bash', ['--norc', '-c', command!], {
        env: { ...env, PATH: `${join(ROOT, 'node_modules', '.bin')}${delimiter}${process.env.PATH}` },
      });
      expect((JSON.parse(second.stdout) as { agent_id: string }[]).map((a) => a.agent_id)).toEqual(['owl-2']);
      expect(second.stderr).toBe('');
      for (const id of ['owl-1', 'owl-2']) expect(await cli(['deregister', id], env)).toMatchObject({ code: 0 });
    });

    it('says so on stderr when nothing matches', async () => {
      expect(await cli(['list', '--capability', 'nothing'], env)).toMatchObject({
        code: 0,
        stdout: '',
        stderr: 'No agents match.\n',
      });
    });
  });

  describe('get, card, deregister', () => {
    it('prints an agent and its card as JSON', async () => {
      const got = await cli(['get', 'planner-7'], env);
      expect(got.code).toBe(0);
      expect(JSON.parse(got.stdout)).toMatchObject({
        agent_id: 'planner-7',
        labels: { region: 'eu-west-1' },
        is_alive: true,
      });
      const card = await cli(['card', 'planner-7'], env);
      expect(card.code).toBe(0);
      expect(JSON.parse(card.stdout)).toEqual(CARD);
    });

    it("prints the registry's detail and exits 1 for an unknown agent or a missing card", async () => {
      expect(await cli(['get', 'nobody'], env)).toEqual({
        code: 1,
        signal: null,
        stdout: '',
        stderr: 'agent-registry: Agent not found: nobody\n',
      });
      expect(await cli(['card', 'search-1'], env)).toMatchObject({
        code: 1,
        stderr: expect.stringMatching(/^agent-registry: .*search-1.*card/),
      });
    });

    it('deregisters an agent', async () => {
      await register(server, agent('short-lived'));
      expect(await cli(['deregister', 'short-lived'], env)).toMatchObject({
        code: 0,
        stdout: 'Deregistered short-lived.\n',
      });
      expect(await cli(['deregister', 'short-lived', '--json'], env)).toMatchObject({
        code: 1,
        stderr: 'agent-registry: Agent not found: short-lived\n',
      });
    });
  });

  describe('health', () => {
    it('prints the status and the counts, or readiness with --ready, and exits 0', async () => {
      const health = await cli(['health'], env);
      expect(health).toMatchObject({ code: 0, stderr: '' });
      expect(health.stdout).toMatch(/^healthy: database up, \d+ agents registered, \d+ alive\n$/);
      expect(await cli(['health', '--ready'], env)).toMatchObject({ code: 0, stdout: 'ready: database up\n' });
      const json = await cli(['health', '--json'], env);
      expect(JSON.parse(json.stdout)).toMatchObject({ status: 'healthy', database: 'up' });
    });
  });

  describe('watch', () => {
    it('prints the match, then a registration made while it watches, one JSON a line; SIGINT ends it with 0', async () => {
      const watch = new Cli(['watch', '--capability', 'planning', '--json'], env);
      await watch.until('stdout', /\n/);
      const snapshot = JSON.parse(watch.stdout.split('\n')[0]);
      expect(snapshot).toMatchObject({ type: 'snapshot', agents: [{ agent_id: 'planner-7' }] });

      await register(server, agent('planner-8', { capabilities: ['planning'] }));
      await register(server, agent('search-2', { capabilities: ['search'] })); // not a match: not printed
      await register(server, agent('planner-9', { capabilities: ['planning'] }));
      await watch.until('stdout', /planner-9/);
      const result = await watch.interrupt();
      expect({ code: result.code, signal: result.signal, stderr: result.stderr }).toEqual({
        code: 0,
        signal: null,
        stderr: '',
      });
      const events = result.stdout
        .trimEnd()
        .split('\n')
        .slice(1)
        .map((line) => JSON.parse(line));
      expect(events).toMatchObject([
        { type: 'event', event: { type: 'registered', agent_id: 'planner-8', matches: true } },
        { type: 'event', event: { type: 'registered', agent_id: 'planner-9', matches: true } },
      ]);
      expect(events[1].event.revision).toBeGreaterThan(snapshot.revision);
    });

    it('prints a line for each change in a person-readable form', async () => {
      const watch = new Cli(['watch', '--name', 'watched'], env);
      await watch.until('stderr', /Watching for changes from revision \d+; Ctrl-C to stop\./);
      expect(watch.stderr).toContain('No agents match yet.');
      await register(server, agent('watched-1', { agent_name: 'Watched', capabilities: ['x'] }));
      await cli(['deregister', 'watched-1'], env);
      await watch.until('stdout', /deregistered/);
      const result = await watch.interrupt();
      expect(result.code).toBe(0);
      expect(result.stdout.trimEnd().split('\n')).toEqual([
        expect.stringMatching(/^\S+Z {2}registered {4}watched-1 {2}Watched {2}10\.0\.0\.1:8080 {2}x$/),
        expect.stringMatching(/^\S+Z {2}deregistered {2}watched-1$/),
      ]);
    });
  });

  describe('errors', () => {
    it('exits 3 when the registry cannot be reached, for a request and for a watch', async () => {
      const url = `http://127.0.0.1:${await closedPort()}`;
      for (const args of [['list'], ['watch']]) {
        const result = await cli([...args, '--url', url], env);
        expect(result).toMatchObject({ code: 3, stdout: '' });
        expect(result.stderr).toMatch(
          new RegExp(`^agent-registry: Cannot reach the registry at ${url}: .*ECONNREFUSED`),
        );
      }
    });

    it('takes --url over AGENT_REGISTRY_URL', async () => {
      const url = `http://127.0.0.1:${await closedPort()}`;
      expect(await cli(['health', '--url', server.url], { AGENT_REGISTRY_URL: url })).toMatchObject({ code: 0 });
    });

    it('exits 2 with a hint for an unknown command or option, a missing argument or a bad value', async () => {
      expect(await cli(['lsit'], env)).toEqual({
        code: 2,
        signal: null,
        stdout: '',
        stderr:
          'agent-registry: Unknown command "lsit".\nDid you mean "list"? Run "agent-registry --help" for the commands.\n',
      });
      expect(await cli(['list', '--limt', '3'], env)).toMatchObject({
        code: 2,
        stderr:
          'agent-registry: Unknown option --limt for "list".\n' +
          'Did you mean --limit? Run "agent-registry list --help" for its options.\n',
      });
      expect(await cli(['list', '--constructor', 'x'], env)).toMatchObject({
        code: 2,
        stderr: expect.stringMatching(/^agent-registry: Unknown option --constructor for "list"\.\n/),
      });
      expect(await cli(['get'], env)).toMatchObject({
        code: 2,
        stderr: expect.stringContaining('Missing argument for "get".\nUsage: agent-registry get <id>'),
      });
      expect(await cli(['get', 'a', 'b'], env)).toMatchObject({ code: 2 });
      expect(await cli(['list', '--limit', 'ten'], env)).toMatchObject({
        code: 2,
        stderr: 'agent-registry: --limit must be a whole number from 1 to 1000, not "ten".\n',
      });
      expect(await cli(['list', '--label', 'region'], env)).toMatchObject({ code: 2 });
      expect(await cli(['list', '--json=yes'], env)).toMatchObject({ code: 2 });
      expect(await cli(['list', '--url', 'registry:3000'], env)).toMatchObject({ code: 2 });
      expect(await cli([], env)).toMatchObject({ code: 2, stdout: '', stderr: expect.stringContaining('Commands:') });
    });

    it('exits 2 for a page size out of range or a cursor without one, and sends nothing', async () => {
      const registry = await countingRegistry();
      try {
        for (const limit of ['0', '1001', '5000', '1.5', '-1']) {
          expect(await cli(['list', `--limit=${limit}`, '--url', registry.url])).toEqual({
            code: 2,
            signal: null,
            stdout: '',
            stderr: `agent-registry: --limit must be a whole number from 1 to 1000, not "${limit}".\n`,
          });
        }
        expect(await cli(['list', '--cursor', 'abc', '--url', registry.url])).toMatchObject({
          code: 2,
          stderr: expect.stringMatching(/^agent-registry: --cursor needs --limit/),
        });
        expect(registry.requests()).toBe(0);
        // What it counts: a page size in range is sent.
        expect(await cli(['list', '--limit', '1000', '--url', registry.url])).toMatchObject({ code: 0 });
        expect(registry.requests()).toBe(1);
      } finally {
        await registry.close();
      }
    });

    it('exits 3, never 0, when the registry accepts connections and drops them', async () => {
      const dropping = createServer((socket) => socket.destroy());
      await new Promise<void>((resolve) => dropping.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(dropping.address() as { port: number }).port}`;
      try {
        // fetch sometimes waits on such a connection until the client's 10 s timeout ends it.
        const result = await cli(['list', '--url', url]);
        expect(result).toMatchObject({ code: 3, stdout: '' });
        expect(result.stderr).toMatch(new RegExp(`^agent-registry: Cannot reach the registry at ${url}: .+\n$`));
      } finally {
        await new Promise((resolve) => dropping.close(resolve));
      }
    }, 30_000);

    it("exits 1 with the registry's detail for a request it refuses", async () => {
      expect(await cli(['list', '--limit', '1', '--cursor', 'not-a-cursor'], env)).toMatchObject({
        code: 1,
        stderr: expect.stringMatching(/^agent-registry: Invalid request: cursor is not one this registry made/),
      });
    });
  });

  describe('help', () => {
    it('lists the commands, the global options and the exit statuses', async () => {
      const { code, stdout } = await cli(['--help']);
      expect(code).toBe(0);
      for (const text of ['list [options]', 'keys hash <name> <role> [secret]', '--url <url>', 'AGENT_REGISTRY_KEY']) {
        expect(stdout).toContain(text);
      }
      expect(stdout).toMatch(/Exit status:\n {2}0 +done\n {2}1 .*\n {2}2 .*\n {2}3 .*cannot be reached/);
      expect(await cli(['help'])).toMatchObject({ code: 0, stdout });
    });

    it.each(['list', 'get', 'card', 'watch', 'deregister', 'health', 'keys'])(
      'helps with %s, as "<command> --help" and as "help <command>"',
      async (command) => {
        const help = await cli([command, '--help']);
        expect(help).toMatchObject({ code: 0, stderr: '' });
        expect(help.stdout).toMatch(new RegExp(`^Usage: agent-registry ${command}`));
        expect(help.stdout).toContain('Exit status:');
        expect(await cli(['help', command])).toMatchObject({ code: 0, stdout: help.stdout });
      },
    );

    it('shows the filters in list --help', async () => {
      const { stdout } = await cli(['list', '-h']);
      for (const option of [
        '--capability <name>',
        '--label <key:value>',
        '--skill',
        '--q',
        '--include-dead',
        '--limit',
      ]) {
        expect(stdout).toContain(option);
      }
    });

    it('refuses help for an unknown command', async () => {
      expect(await cli(['help', 'nope'])).toMatchObject({ code: 2 });
    });
  });
});

describe.each(onEachDatabase())('agent-registry watch, across registry restarts (%s)', (dialect) => {
  let database: TestDatabase;
  let server: ServerProcess | undefined;
  let proxy: TcpProxy | undefined;

  beforeEach(async () => {
    database = await createTestDatabase(dialect);
    server = await ServerProcess.start({ DATABASE_URL: database.url, EVENTS_POLL_MS: '50' });
  });

  afterEach(async () => {
    await proxy?.close();
    await server?.stop();
    await database.drop();
  });

  it('says once that it lost the registry and once that it is back, however many retries it takes', async () => {
    const port = Number(new URL(server!.url).port);
    // Between the CLI and the registry, to count the CLI's attempts while the registry is down.
    proxy = await TcpProxy.start({ host: '127.0.0.1', port });
    const watch = new Cli(['watch', '--name', 'restart'], { AGENT_REGISTRY_URL: `http://127.0.0.1:${proxy.port}` });
    await watch.until('stderr', /Ctrl-C to stop\.\n/);

    for (const round of [1, 2]) {
      await server!.stop();
      const attempts = proxy.accepted;
      await until(() => lines(watch.stderr, 'Lost the registry') === round);
      await until(() => proxy!.accepted >= attempts + 3); // retries, each refused
      server = await ServerProcess.start({ DATABASE_URL: database.url, PORT: String(port), EVENTS_POLL_MS: '50' });
      await until(() => lines(watch.stderr, 'The registry is back') === round);
      await register(server, agent(`restart-${round}`));
      await watch.until('stdout', new RegExp(`registered +restart-${round}`));
    }

    const result = await watch.interrupt();
    expect(result.code).toBe(0);
    expect(result.stderr.trimEnd().split('\n')).toEqual([
      'No agents match yet.',
      expect.stringMatching(/^Watching for changes from revision 0; Ctrl-C to stop\.$/),
      expect.stringMatching(/^Lost the registry: [^\n]+; retrying\.$/),
      'The registry is back; watching from revision 0.',
      expect.stringMatching(/^Lost the registry: [^\n]+; retrying\.$/),
      'The registry is back; watching from revision 1.',
    ]);
  }, 90_000);
});

describe('agent-registry, the command line, against a registry with API keys', () => {
  const ADMIN = 'admin-secret-0123456789';
  const READER = 'reader-secret-0123456789';
  let database: TestDatabase;
  let server: ServerProcess;
  let env: NodeJS.ProcessEnv;
  /** The secret `keys hash` generated for the key "fleet" (agent). */
  let fleetSecret: string;

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    const hashed = await cli(['keys', 'hash', 'fleet', 'agent']);
    expect(hashed.code).toBe(0);
    fleetSecret = hashed.stderr.trimEnd().split('\n').at(-1)!;
    const keysFile = join(database.dir, 'keys');
    writeFileSync(keysFile, hashed.stdout);
    server = await ServerProcess.start({
      DATABASE_URL: database.url,
      REGISTRY_API_KEYS_FILE: keysFile,
      REGISTRY_API_KEYS: `ops:admin:${ADMIN},watcher:reader:${READER}`,
    });
    env = { AGENT_REGISTRY_URL: server.url };
  });

  afterAll(async () => {
    await server?.stop();
    await database?.drop();
  });

  it('keys hash: the line it prints lets the generated secret in, with its role', async () => {
    await register(server, agent('fleet-1'), fleetSecret);
    expect(await cli(['get', 'fleet-1', '--key', fleetSecret], env)).toMatchObject({ code: 0 });
    expect(await cli(['deregister', 'fleet-1'], { ...env, AGENT_REGISTRY_KEY: fleetSecret })).toMatchObject({
      code: 0,
      stdout: 'Deregistered fleet-1.\n',
    });
  });

  it('keys hash: prints the line for a given secret, and refuses a bad name, role or secret', async () => {
    const secret = 'a-given-secret-0123456789';
    expect(await cli(['keys', 'hash', 'ci-bot', 'reader', secret])).toEqual({
      code: 0,
      signal: null,
      stdout: `${keysFileLine('ci-bot', 'reader', secret)}\n`,
      stderr: '',
    });
    expect(await cli(['keys', 'hash', 'ci-bot', 'root'])).toMatchObject({
      code: 2,
      stdout: '',
      stderr: expect.stringContaining('The role must be one of reader, agent, admin, not "root".'),
    });
    expect(await cli(['keys', 'hash', 'ci-bot', 'reader', 'short'])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('The secret must be at least 16 characters.'),
    });
    expect(await cli(['keys', 'hash', '.hidden', 'reader'])).toMatchObject({
      code: 2,
      stdout: '',
      stderr: expect.stringContaining('Not a valid key: ".hidden" is not a name'),
    });
    expect(await cli(['keys', 'hash', 'ci-bot'])).toMatchObject({ code: 2 });
    expect(await cli(['keys', 'rotate', 'ci-bot', 'reader'])).toMatchObject({ code: 2 });
  });

  it('sends the key from --key or AGENT_REGISTRY_KEY, --key first, and never prints it', async () => {
    expect(await cli(['list'], { ...env, AGENT_REGISTRY_KEY: READER })).toMatchObject({ code: 0 });
    expect(await cli(['list', '--key', READER], env)).toMatchObject({ code: 0 });
    const wrong = 'not-a-key-0123456789';
    expect(await cli(['list', '--key', READER], { ...env, AGENT_REGISTRY_KEY: wrong })).toMatchObject({ code: 0 });
    const refused = await cli(['list', '--key', wrong], env);
    expect(refused).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('The registry did not accept the key given by --key or AGENT_REGISTRY_KEY.'),
    });
    expect(refused.stdout + refused.stderr).not.toContain(wrong);
  });

  it('says a key is needed when none is given', async () => {
    expect(await cli(['list'], env)).toEqual({
      code: 1,
      signal: null,
      stdout: '',
      stderr:
        'agent-registry: A valid API key is required: send it as "Authorization: Bearer <key>".\n' +
        'Give a key with --key or the AGENT_REGISTRY_KEY environment variable.\n',
    });
    expect(await cli(['health'], env)).toMatchObject({ code: 1 });
    expect(await cli(['health', '--ready'], env)).toMatchObject({ code: 0, stdout: 'ready: database up\n' });
  });

  it("prints the registry's detail for a key whose role may not do it", async () => {
    await register(server, agent('guarded-1'), ADMIN);
    expect(await cli(['deregister', 'guarded-1', '--key', READER], env)).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^agent-registry: This needs the .*role\.\n$/),
    });
  });
});
