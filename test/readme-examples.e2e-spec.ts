import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestDatabase, onEachDatabase, TestDatabase } from './support/databases';
import {
  Bindings,
  CodeBlock,
  matchOutput,
  readmeBlocks,
  ShellExample,
  shellExamples,
  shownStatuses,
  substitute,
} from './support/readme-examples';
import { ServerProcess } from './support/server-process';
import { tempDir } from './support/temp-dir';

/**
 * The docs' own examples, run against the built server as a user runs them: every shell block of README.md that calls
 * the API, in README order, through the real `curl` in one bash session (what each command prints must be what the
 * README shows under it: see matchOutput), and the Python agent with python3. The README is read when the suite
 * loads, so editing an example edits the test. (The OpenAPI document's examples: openapi-examples.e2e-spec.ts.)
 */

const BLOCKS = readmeBlocks();

/** Shell blocks that call no API (no `curl`), each with why the examples here do not run it. */
const NOT_API_EXAMPLES: Record<string, string> = {
  'Quick start': 'installs, builds and serves, and runs every test: the process specs start the built server',
  Benchmarks: 'runs for minutes under load: bench/',
  Production: 'needs PostgreSQL over verified TLS and root to write /etc; process and database specs cover it',
  'Running several replicas': 'needs a PostgreSQL with TLS at db.internal; replicas.e2e-spec.ts runs three replicas',
  Development: 'lint, format, watch mode and the tests themselves',
  'The TypeScript client':
    'packs and installs the client, and generates types: client-package.e2e-spec.ts and docs.e2e-spec.ts run them',
};

const apiExamples = BLOCKS.filter((block) => isShell(block) && /\bcurl\b/.test(block.code));
const pythonBlocks = BLOCKS.filter((block) => block.lang === 'python');

function isShell(block: CodeBlock): boolean {
  return block.lang === 'sh' || block.lang === 'bash';
}

// The examples need bash, curl, openssl and python3 as a user has them; CI installs them (.ci/run), elsewhere a
// machine without them skips this suite.
const tools = ['bash', 'curl', 'openssl', 'sha256sum', 'python3'];
const missingTools = tools.filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
const withTools = missingTools.length === 0 || process.env.CI ? describe : describe.skip;
if (missingTools.length > 0 && !process.env.CI) {
  console.warn(`[examples] ${missingTools.join(', ')} not installed: skipping the README's examples`);
}

describe('README examples (which of them run)', () => {
  it('runs every shell block that calls the API; every other one is listed with the reason', () => {
    const others = BLOCKS.filter((block) => isShell(block) && !apiExamples.includes(block));
    expect([...new Set(others.map((block) => block.heading))].sort()).toEqual(Object.keys(NOT_API_EXAMPLES).sort());
    expect(apiExamples.length).toBeGreaterThanOrEqual(5);
    expect(pythonBlocks).toHaveLength(1);
  });
});

describe('README examples (how they are read and compared)', () => {
  const ok = (shown: string[], actual: string, prefix = false) => matchOutput(shown, actual, prefix).ok;

  it('splits a block into commands (continued, quoted over lines, loops) and the # lines right under each', () => {
    const code = [
      '# describes the first',
      'curl -s -X POST localhost:3000/a \\',
      "  -d '{",
      "  }'",
      '# {"printed":true}',
      '#  "and more"',
      '',
      '# describes the loop',
      'while true; do',
      '  echo x',
      'done',
      'curl -s localhost:3000/b   # a trailing comment',
    ].join('\n');
    expect(shellExamples(code)).toEqual([
      { command: "curl -s -X POST localhost:3000/a \\\n  -d '{\n  }'", shown: ['{"printed":true}', ' "and more"'] },
      { command: 'while true; do\n  echo x\ndone', shown: [] },
      { command: 'curl -s localhost:3000/b   # a trailing comment', shown: [] },
    ]);
  });

  it('compares JSON by structure: … for more members or any value, times and revisions by shape', () => {
    const agent = '{"agent_id":"a","ttl_seconds":30,"registered_at":"2026-12-07T01:02:03.004Z","revision":7}';
    expect(ok(['{"agent_id":"a",…}'], agent)).toBe(true);
    expect(
      ok(['{"agent_id":"a","ttl_seconds":30,', ' "registered_at":"2026-11-27T09:00:00.000Z","revision":42}'], agent),
    ).toBe(true);
    expect(ok(['{"agent_id":"b",…}'], agent)).toBe(false);
    expect(ok(['{"agent_id":"a","ttl_seconds":60,…}'], agent)).toBe(false);
    expect(ok(['{"agent_id":"a"}'], agent)).toBe(false);
    expect(ok(['{"agent_id":"a","registered_at":"…",…}'], agent)).toBe(true);
    expect(ok(['{"registered_at":"2026-11-27T09:00:00.000Z",…}'], '{"registered_at":"soon"}')).toBe(false);
    expect(ok(['{"revision":42,…}'], '{"revision":"7"}')).toBe(false);
    expect(ok(['[{"agent_id":"a",…}]'], `[${agent}]`)).toBe(true);
    expect(ok(['[{"agent_id":"a",…}]'], '[]')).toBe(false);
    expect(ok(['[{"agent_id":"a",…}]'], `[${agent},${agent}]`)).toBe(false);
    expect(ok(['[]'], 'not json')).toBe(false);
  });

  it('compares other output line by line: … for any lines, header names in any case, event ids by shape', () => {
    const response = 'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\netag: "abc"\r\n\r\n{"name":"P"}';
    expect(ok(['HTTP/1.1 200 OK', '…', 'ETag: "…"', '…', '{"name":"P",…}'], response)).toBe(true);
    expect(ok(['HTTP/1.1 304 Not Modified', '…'], response)).toBe(false);
    expect(ok(['HTTP/1.1 200 OK', '…', 'Cache-Control: no-cache', '…'], response)).toBe(false);
    expect(ok(['HTTP/1.1 200 OK', '…', '{"name":"Q",…}'], response)).toBe(false);

    const stream = ': watching from revision 5\n\nid: 6\nevent: registered\ndata: {"revision":6,"agent_id":"p"}\n\n';
    const shown = [
      ': watching from revision 42',
      'id: 43',
      'event: registered',
      'data: {"revision":43,"agent_id":"p"}',
    ];
    expect(matchOutput(shown, stream)).toEqual({ ok: true, bindings: new Map([['43', '6']]) });
    expect(
      ok(
        shown.map((line) => line.replace('registered', 'updated')),
        stream,
      ),
    ).toBe(false);
    expect(ok([...shown, 'id: 44'], stream)).toBe(false);
    expect(ok(shown.slice(0, 2), stream)).toBe(false);
    expect(ok(shown.slice(0, 2), stream, true)).toBe(true);
    expect(matchOutput(['X-Registry-Revision: 42'], 'X-Registry-Revision: 9\r\n')).toEqual({
      ok: true,
      bindings: new Map([['42', '9']]),
    });
  });

  it('reads the statuses the README shows: a problem document, or the status line of curl -i', () => {
    expect(shownStatuses(['{"type":"about:blank","title":"Not Found","status":404,"detail":"…"}'])).toEqual([404]);
    expect(shownStatuses(['HTTP/1.1 304 Not Modified', '…'])).toEqual([304]);
    expect(shownStatuses(['{"status":"ok",…}'])).toEqual([]);
  });
});

withTools.each(onEachDatabase())('README examples (built server on %s)', (dialect) => {
  let database: TestDatabase;
  let server: ServerProcess;
  let shell: Shell;
  const home = tempDir();
  const others: { server: ServerProcess; database: TestDatabase }[] = [];

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    server = await ServerProcess.start({ DATABASE_URL: database.url });
    // curl reports each answer's status on stderr, out of the way of what the README shows (see Shell.run).
    writeFileSync(join(home.dir, '.curlrc'), 'write-out = "%{stderr}curl-http-status %{http_code}\\n"\n');
    shell = Shell.start(home.dir);
  });

  afterAll(async () => {
    shell?.close();
    for (const other of others) {
      await other.server.stop();
      await other.database.drop();
    }
    await server?.stop();
    await database?.drop();
    home.remove();
  });

  /** As on the README's machine: localhost:3000 is the server under test, /etc/agent-registry a folder of ours. */
  const asHere = (text: string, target: ServerProcess) =>
    text.replace(/localhost:3000/g, new URL(target.url).host).replace(/\/etc\/agent-registry\//g, `${home.dir}/`);

  const ordered = BLOCKS.filter((block) => apiExamples.includes(block) || pythonBlocks.includes(block));
  it.each(ordered.map((block) => [block.heading, block.lang, block] as const))(
    '"%s" (%s) prints what the README shows',
    async (_heading, lang, block) => {
      if (lang === 'python') return runPython(block);
      let target = server;
      const bindings: Bindings = new Map();
      for (const example of shellExamples(block.code)) {
        const command = asHere(substitute(example.command, bindings), target);
        const started = /^((?:[A-Z][A-Z0-9_]*=\S+\s+)*)npm start$/.exec(command);
        if (started) {
          // `npm start` builds, then runs what this starts: the built server, with the variables of the line.
          target = await startAnother(started[1]);
          continue;
        }
        const shown = example.shown.map((line) => substitute(line, bindings));
        const result = await shell.run(command, shown);
        const { problem, bound } = checkExample(example, shown, result);
        expect({ command: example.command, printed: result.stdout, problem }).toEqual({
          command: example.command,
          printed: result.stdout,
          problem: undefined,
        });
        for (const [from, to] of bound) if (!bindings.has(from)) bindings.set(from, to);
      }
    },
  );

  async function startAnother(assignments: string): Promise<ServerProcess> {
    const env = Object.fromEntries(
      assignments
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map((assignment) => assignment.split(/=(.*)/s).slice(0, 2)),
    ) as Record<string, string>;
    const other = await createTestDatabase(dialect);
    const started = await ServerProcess.start({ ...env, DATABASE_URL: other.url });
    others.push({ server: started, database: other });
    return started;
  }

  /**
   * The Python agent, as the README runs it: started, then (once it watches) the other terminal's command, then
   * Ctrl-C. Its TTL is cut to 3 s so that a heartbeat (every ttl/3) comes within the test.
   */
  async function runPython(block: CodeBlock): Promise<void> {
    const run = BLOCKS[BLOCKS.indexOf(block) + 1];
    expect(run.lang).toBe('console');
    const [prompt, ...printed] = run.code.split('\n');
    expect(prompt).toBe('$ python3 agent.py');
    const interrupt = printed.indexOf('^C');
    const beforeInterrupt = printed.slice(0, interrupt);
    const watching = beforeInterrupt.findIndex((line) => line.startsWith('watching'));
    const elsewhere = /in another terminal[^`]*`([^`]+)`/s.exec(run.prose)?.[1];
    expect(watching).toBeGreaterThanOrEqual(0);
    expect(interrupt).toBeGreaterThan(watching);
    expect(elsewhere).toMatch(/^curl /);

    const file = join(home.dir, 'agent.py');
    const code = asHere(block.code, server).replace('"ttl_seconds": 30', '"ttl_seconds": 3');
    expect(code).toContain('"ttl_seconds": 3,');
    writeFileSync(file, code);
    const python = spawn('python3', ['-u', file], {
      env: { PATH: process.env.PATH, HOME: home.dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    python.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    python.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => python.once('exit', (code) => resolve(code)));
    const printedSoFar = (lines: string[]) => () => matchOutput(lines, output, true).ok;
    try {
      await until(printedSoFar(beforeInterrupt.slice(0, watching + 1)), () => output);
      const agentId = /"agent_id": "([^"]+)"/.exec(code)![1];
      await until(
        async () => {
          const agent = (await (await server.fetch(`/agents/${agentId}`)).json()) as Record<string, string>;
          return agent.last_heartbeat > agent.registered_at;
        },
        () => `no heartbeat from ${agentId}; it printed:\n${output}`,
      );
      const result = await shell.run(asHere(elsewhere!, server), []);
      expect(result.statuses).toEqual([200]);
      await until(printedSoFar(beforeInterrupt), () => output);
      python.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(
        matchOutput(
          printed.filter((line) => line !== '^C'),
          output,
        ),
      ).toEqual({ ok: true, bindings: expect.anything() });
      expect((await server.fetch(`/agents/${agentId}`)).status).toBe(404);
    } finally {
      python.kill('SIGKILL');
    }
  }
});

/**
 * What is wrong with an example's run (its output, its statuses, its exit status), or undefined; and the server-set
 * values its output bound.
 */
function checkExample(
  example: ShellExample,
  shown: string[],
  result: ShellResult,
): { problem?: string; bound: Bindings } {
  const lists = /\bcurl\b(?![^\n]*\s-X)[^|\n]*localhost:3000\/agents(\?[^\s'"]*)?['"]?(\s|$)/.test(example.command);
  if (lists && shown.length === 0)
    return { problem: 'a list of agents: the README should show what it finds', bound: new Map() };
  let bound: Bindings = new Map();
  if (shown.length > 0) {
    const matched = matchOutput(shown, result.stdout, result.longRunning);
    if (!matched.ok) return { problem: `it prints other than the README shows (${matched.why})`, bound };
    bound = matched.bindings;
  }
  const curlWritesOut = /\bcurl\b/.test(example.command) && !/\s-w\s/.test(example.command);
  if (curlWritesOut && !result.longRunning && result.statuses.length === 0) {
    return { problem: 'curl got no answer', bound };
  }
  const allowed = shownStatuses(shown);
  const unexpected = result.statuses.filter((status) => !(status >= 200 && status < 300) && !allowed.includes(status));
  if (unexpected.length > 0)
    return { problem: `answered ${unexpected.join(', ')}, which the README does not show`, bound };
  if (!result.longRunning && result.exitStatus !== 0)
    return { problem: `exited with status ${result.exitStatus}`, bound };
  return { bound };
}

interface ShellResult {
  stdout: string;
  /** The HTTP status of every answer curl got (from the write-out in .curlrc). */
  statuses: number[];
  exitStatus: number;
  /** It runs until stopped (a watch, a loop): the test stopped it, as Ctrl-C would, once it printed what is shown. */
  longRunning: boolean;
}

/** One bash session, as a user's terminal: commands pasted in order, variables kept from one to the next. */
class Shell {
  private stdout = '';
  private stderr = '';
  private readonly listeners = new Set<() => void>();
  private count = 0;
  private readonly marker = `@@done-${randomBytes(4).toString('hex')}`;

  private constructor(private readonly child: ChildProcess) {
    child.stdout?.on('data', (chunk: Buffer) => this.received(() => (this.stdout += chunk.toString())));
    child.stderr?.on('data', (chunk: Buffer) => this.received(() => (this.stderr += chunk.toString())));
  }

  static start(home: string): Shell {
    // A process group of its own, so that Ctrl-C (SIGINT to the group) reaches the command running in it.
    const child = spawn('bash', ['--noprofile', '--norc', '-s'], {
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH, HOME: home, CURL_HOME: home, LC_ALL: 'C.UTF-8' },
    });
    // The session outlives a Ctrl-C; the command it interrupts runs in a subshell, which does not (see run).
    child.stdin?.write("trap ':' INT\n");
    return new Shell(child);
  }

  /**
   * Runs a command to its end; one that runs until stopped (`curl -N`, `while true`) is stopped with SIGINT once it
   * has printed the `shown` lines (or the deadline fails the test).
   */
  async run(command: string, shown: string[]): Promise<ShellResult> {
    const longRunning = /^while\b/.test(command) || /\bcurl\b[^\n]*\s-\w*N\b/.test(command);
    const end = `${this.marker}-${++this.count}`;
    const from = { stdout: this.stdout.length, stderr: this.stderr.length };
    const body = longRunning ? `(\n${command}\n) </dev/null` : `{\n${command}\n} </dev/null`;
    this.child.stdin?.write(`${body}\n__status=$?; printf '\\n${end} %s\\n' "$__status"; printf '${end}\\n' >&2\n`);
    const printed = () => this.stdout.slice(from.stdout);
    const done = new RegExp(`\n${end} (\\d+)\n`);
    // One that never prints what is shown is stopped all the same, so that its output fails it, not the next command.
    const giveUpAt = Date.now() + 10_000;
    await until(
      () => {
        if (done.test(printed())) return this.stderr.slice(from.stderr).includes(`${end}\n`);
        // Again until it ends, as a user presses Ctrl-C again: one that lands as a child starts can go unseen.
        const stop = matchOutput(shown, printed(), true).ok || Date.now() > giveUpAt;
        if (longRunning && stop) process.kill(-this.child.pid!, 'SIGINT');
        return false;
      },
      () => `the command did not end:\n${command}\nIt printed:\n${printed()}`,
      this.listeners,
    );
    const all = printed();
    const match = done.exec(all)!;
    const errors = this.stderr.slice(from.stderr);
    return {
      stdout: all.slice(0, match.index),
      statuses: [...errors.matchAll(/^curl-http-status (\d{3})$/gm)].map((m) => Number(m[1])),
      exitStatus: Number(match[1]),
      longRunning,
    };
  }

  close(): void {
    this.child.stdin?.end();
    if (this.child.exitCode === null) process.kill(-this.child.pid!, 'SIGKILL');
  }

  private received(append: () => void): void {
    append();
    for (const listener of [...this.listeners]) listener();
  }
}

/** Resolves once `check` holds, re-checked on output (`listeners`) or every 50 ms; fails after 20 s with `what`. */
async function until(
  check: () => boolean | Promise<boolean>,
  what: () => string,
  listeners?: Set<() => void>,
): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(what());
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, 50);
      function done() {
        clearTimeout(timer);
        listeners?.delete(done);
        resolve();
      }
      listeners?.add(done);
    });
  }
}
