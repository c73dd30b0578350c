import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createTestDatabase, Dialect, TestDatabase } from './databases';
import { testHttpAdapter } from './http-adapter';
import { NEVER } from './test-app';

const DIST = join(__dirname, '..', '..', 'dist', 'src');
export const MAIN = join(DIST, 'main.js');
export const MIGRATE = join(DIST, 'migrate.js');

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The built server (`dist/src/main.js`) in its own process, as a user runs it. */
export class ServerProcess {
  output = '';
  readonly exited: Promise<Exit>;

  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
    output: string,
  ) {
    this.output = output;
    child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = exitOf(child);
  }

  /** Starts the server on an ephemeral loopback port, on this jest project's HTTP adapter; resolves once it listens. */
  static start(env: NodeJS.ProcessEnv): Promise<ServerProcess> {
    const child = spawn(process.execPath, [MAIN], {
      env: { ...baseEnv(), PORT: '0', HOST: '127.0.0.1', CLEANUP_CRON: NEVER, HTTP_ADAPTER: testHttpAdapter(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new Promise((resolve, reject) => {
      let output = '';
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        const listening = /listening on (http:\/\/[\d.]+:\d+)/.exec(output);
        if (listening) {
          child.stdout?.off('data', onData);
          child.stderr?.off('data', onData);
          child.off('exit', onExit);
          resolve(new ServerProcess(child, listening[1], output));
        }
      };
      const onExit = (code: number | null) => reject(new Error(`server exited (${code}) before listening:\n${output}`));
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', onExit);
    });
  }

  /** Sends a signal and waits for the process to end. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<Exit> {
    this.child.kill(signal);
    return this.exited;
  }

  fetch(path: string, init?: RequestInit): Promise<Response> {
    return fetch(`${this.url}${path}`, init);
  }

  post(path: string, body?: unknown): Promise<Response> {
    return this.fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }
}

/** Runs a built script to its end (for config errors and `npm run migrate`). */
export function runToExit(script: string, env: NodeJS.ProcessEnv): Promise<Exit & { output: string }> {
  const child = spawn(process.execPath, [script], { env: { ...baseEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return exitOf(child).then((exit) => ({ ...exit, output }));
}

function exitOf(child: ChildProcess): Promise<Exit> {
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** The test runner's environment without the registry's variables, and without colours in logs. */
function baseEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1' };
}

/** A suite's built server and its database: read them inside tests and hooks, once the suite's beforeAll has run. */
export interface SuiteServer {
  readonly server: ServerProcess;
  readonly database: TestDatabase;
}

/**
 * The built server on a new database of `dialect`, shared by the tests of the describe block that calls this: started
 * in a beforeAll (registered here, so before the block's own), stopped and its database dropped in an afterAll.
 */
export function serverForSuite(dialect: Dialect, env: NodeJS.ProcessEnv = {}): SuiteServer {
  let database: TestDatabase | undefined;
  let server: ServerProcess | undefined;
  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    server = await ServerProcess.start({ DATABASE_URL: database.url, ...env });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    await database?.drop();
  });
  return {
    get server() {
      if (!server) throw new Error('The suite server has not started (read it inside a test or hook)');
      return server;
    },
    get database() {
      if (!database) throw new Error('The suite database does not exist yet (read it inside a test or hook)');
      return database;
    },
  };
}
