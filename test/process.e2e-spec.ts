import { existsSync, writeFileSync } from 'node:fs';
import { connect, Socket } from 'node:net';
import { join } from 'node:path';
import { createTestDatabase, onEachDatabase, TestDatabase } from './support/databases';
import { testHttpAdapter } from './support/http-adapter';
import { MAIN, MIGRATE, ServerProcess, runToExit } from './support/server-process';
import { tempDir } from './support/temp-dir';
import { agent } from './support/test-app';
import { RequestLine } from '../src/common/request-context';
import { keysFileLine } from '../src/auth/api-keys';
import { sqliteMigrations } from '../src/migrations';

/** A hand-written HTTP/1.1 connection: what the server sent, and when it closed. */
function rawConnection(port: number): { socket: Socket; readonly response: string; closed: Promise<void> } {
  const socket = connect(port, '127.0.0.1');
  const connection = {
    socket,
    response: '',
    closed: new Promise<void>((resolve) => socket.on('close', () => resolve())),
  };
  socket.on('data', (chunk) => (connection.response += chunk.toString()));
  socket.on('error', () => undefined);
  return connection;
}

/** What only a real process shows: crashes, signals, restarts, boot failures. Runs the built server from dist/. */
describe.each(onEachDatabase())('The built server as a process (%s)', (dialect) => {
  let database: TestDatabase;
  let env: NodeJS.ProcessEnv;
  let server: ServerProcess | undefined;

  beforeEach(async () => {
    database = await createTestDatabase(dialect);
    env = { DATABASE_URL: database.url };
  });

  afterEach(async () => {
    if (server?.child.exitCode === null && server.child.signalCode === null) await server.stop('SIGKILL');
    server = undefined;
    await database.drop();
  });

  it('keeps every acknowledged write through a kill -9 in the middle of concurrent heartbeats and registrations, and expires no lease for the downtime', async () => {
    // Leases shorter than the downtime below, which is longer than RESTART_GRACE_AFTER.
    const grace = { ...env, RESTART_GRACE_AFTER: '10s' };
    const leased = (id: string) => agent(id, { ttl_seconds: 5 });
    server = await ServerProcess.start(grace);
    expect(server.output).toContain(`(${testHttpAdapter()}), docs at /docs`);
    const first = Array.from({ length: 40 }, (_, i) => `durable-${i}`);
    const registered = await Promise.all(first.map((id) => server!.post('/agents/register', leased(id))));
    expect(registered.map((r) => r.status)).toEqual(first.map(() => 200));

    // Writers stream heartbeats and new registrations into the same group commits; the process dies among them.
    const acknowledgedRegistrations: string[] = [];
    const acknowledgedBeats = new Map<string, string>();
    let streaming = true;
    let next = 0;
    const writer = async () => {
      while (streaming) {
        const n = next++;
        try {
          if (n % 2 === 0) {
            const id = `later-${n}`;
            const res = await server!.post('/agents/register', leased(id));
            if (res.status === 200) acknowledgedRegistrations.push(id);
          } else {
            const id = first[n % first.length];
            const res = await server!.post(`/agents/${id}/heartbeat`);
            if (res.status === 200) {
              const { last_heartbeat } = (await res.json()) as { last_heartbeat: string };
              if (last_heartbeat > (acknowledgedBeats.get(id) ?? '')) acknowledgedBeats.set(id, last_heartbeat);
            }
          }
        } catch {
          // The connection died with the process: this write was never acknowledged.
        }
      }
    };
    const writers = Array.from({ length: 16 }, writer);
    while (acknowledgedRegistrations.length + acknowledgedBeats.size < 150) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    server.child.kill('SIGKILL');
    expect(await server.exited).toEqual({ code: null, signal: 'SIGKILL' });
    streaming = false;
    await Promise.all(writers);
    // Down for longer than RESTART_GRACE_AFTER, and so than every lease.
    await new Promise((resolve) => setTimeout(resolve, 11_000));

    server = await ServerProcess.start(grace);
    for (const id of acknowledgedRegistrations) {
      expect({ id, status: (await server.fetch(`/agents/${id}`)).status }).toEqual({ id, status: 200 });
    }
    for (const [id, acknowledged] of acknowledgedBeats) {
      const info = (await (await server.fetch(`/agents/${id}`)).json()) as { last_heartbeat: string };
      // A later heartbeat may have committed without its answer getting out; never an earlier one.
      expect({ id, stored: info.last_heartbeat >= acknowledged }).toEqual({ id, stored: true });
    }
    // Every agent is alive: the leases that ran out while no registry served were extended at boot.
    const listed = (await (await server.fetch('/agents?include_dead=true&limit=1000')).json()) as {
      agent_id: string;
      is_alive: boolean;
    }[];
    expect(listed.filter((a) => !a.is_alive).map((a) => a.agent_id)).toEqual([]);
    expect(listed.length).toBeGreaterThanOrEqual(first.length + acknowledgedRegistrations.length);
    expect(server.output).toMatch(/extended \d+ lease\(s\) that ran out meanwhile/);
  });

  it('on SIGTERM stops taking connections, finishes the request in flight, answers 503 to a late one, then closes the database', async () => {
    server = await ServerProcess.start(env);
    const port = Number(new URL(server.url).port);
    const body = JSON.stringify(agent('in-flight'));

    // A registration whose body is still arriving when the signal comes.
    const inFlight = rawConnection(port);
    inFlight.socket.write(
      `POST /agents/register HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 10)}`,
    );
    // A connection whose next request has begun (so it is not idle) but is dispatched only after the signal.
    const late = rawConnection(port);
    late.socket.write('GET /agents/in-flight HTTP/1.1\r\nHost: localhost\r\n');
    await new Promise((resolve) => setTimeout(resolve, 200));

    server.child.kill('SIGTERM');
    // New connections are refused while the in-flight request is still open.
    let refused = false;
    for (let tries = 0; tries < 50 && !refused; tries++) {
      refused = await server.fetch('/health/live').then(
        () => false,
        () => true,
      );
      if (!refused) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(refused).toBe(true);
    expect(server.child.exitCode).toBeNull();

    late.socket.write('\r\n');
    await late.closed;
    expect(late.response).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
    expect(late.response).toMatch(/\r\nConnection: close\r\n/i);
    expect(late.response).toMatch(/\r\nRetry-After: 1\r\n/i);
    expect(late.response).toMatch(/\r\nContent-Type: application\/problem\+json; charset=utf-8\r\n/i);
    expect(late.response).toContain('"detail":"The registry is shutting down; retry shortly');

    inFlight.socket.write(body.slice(10));
    await inFlight.closed;
    expect(inFlight.response).toMatch(/^HTTP\/1\.1 200 OK/);
    // Answered, and told not to send more on this connection.
    expect(inFlight.response).toMatch(/\r\nConnection: close\r\n/i);
    expect(inFlight.response).toContain('"agent_id":"in-flight"');

    const exit = await server.exited;
    expect(exit.code === 0 || exit.signal === 'SIGTERM').toBe(true);
    expect(server.output).toContain('SIGTERM: no longer accepting connections');
    // SQLite removes the WAL file only when the last connection closes cleanly.
    if (dialect === 'sqlite') expect(existsSync(join(database.dir, 'registry.sqlite-wal'))).toBe(false);

    server = await ServerProcess.start(env);
    expect((await server.fetch('/agents/in-flight')).status).toBe(200);
  });

  it('on SIGTERM under load, every request the server took is answered, and every acknowledged write is kept', async () => {
    server = await ServerProcess.start(env);
    const first = Array.from({ length: 40 }, (_, i) => `steady-${i}`);
    for (const id of first) expect((await server.post('/agents/register', agent(id))).status).toBe(200);

    // Each request carries its own X-Request-Id, which the server's request log line names with the status it sent.
    const outcomes = new Map<string, number | string>();
    const acknowledged = new Set<string>();
    let signalledAt = 0;
    let answeredAfterSignal = 0;
    let next = 0;
    let refused = false;
    const writer = async () => {
      while (!refused) {
        const n = next++;
        const requestId = `load-${n}`;
        const registers = n % 2 === 0;
        const id = registers ? `joining-${n}` : first[n % first.length];
        try {
          const res = await fetch(
            registers ? `${server!.url}/agents/register` : `${server!.url}/agents/${id}/heartbeat`,
            {
              method: 'POST',
              headers: { 'Content-Type': 'application/json', 'X-Request-Id': requestId },
              body: registers ? JSON.stringify(agent(id)) : undefined,
            },
          );
          await res.arrayBuffer();
          outcomes.set(requestId, res.status);
          if (signalledAt > 0) answeredAfterSignal++;
          if (res.status === 200 && registers) acknowledged.add(id);
        } catch (error) {
          const code = (error as { cause?: { code?: string } }).cause?.code ?? String(error);
          outcomes.set(requestId, code);
          if (code === 'ECONNREFUSED') refused = true;
        }
      }
    };
    const writers = Array.from({ length: 16 }, writer);
    while (acknowledged.size < 100) await new Promise((resolve) => setTimeout(resolve, 10));
    signalledAt = Date.now();
    server.child.kill('SIGTERM');
    await Promise.all(writers);
    const exit = await server.exited;
    expect(exit.code === 0 || exit.signal === 'SIGTERM').toBe(true);

    // What the server did with each request that reached it, from its request log lines (JSON, one per line).
    const audited = new Map(
      requestLines(server.output)
        .filter((line) => line.request_id.startsWith('load-'))
        .map((line) => [line.request_id, String(line.status)]),
    );
    expect(audited.size).toBeGreaterThan(100);
    const mismatches = [...audited]
      .filter(([requestId, result]) => outcomes.get(requestId) !== Number(result))
      .map(([requestId, result]) => ({ requestId, server: result, client: outcomes.get(requestId) }));
    expect(mismatches).toEqual([]);
    // Only 200s and the shutdown's 503s; a request that failed on the client never reached a handler.
    const statuses = new Set([...outcomes.values()].filter((outcome) => typeof outcome === 'number'));
    expect([...statuses].filter((status) => status !== 200 && status !== 503)).toEqual([]);
    const failedButTaken = [...outcomes].filter(
      ([requestId, outcome]) => typeof outcome === 'string' && audited.has(requestId),
    );
    expect(failedButTaken).toEqual([]);
    // The signal came while requests were in flight: some were answered after it.
    expect(answeredAfterSignal).toBeGreaterThan(0);

    server = await ServerProcess.start(env);
    const listed = new Set(
      ((await (await server.fetch('/agents?limit=1000')).json()) as { agent_id: string }[]).map((a) => a.agent_id),
    );
    expect([...acknowledged].filter((id) => !listed.has(id))).toEqual([]);
  });

  it('SHUTDOWN_TIMEOUT bounds the wait for a request that never finishes', async () => {
    server = await ServerProcess.start({ ...env, SHUTDOWN_TIMEOUT: '2s', HTTP_REQUEST_TIMEOUT_MS: '600000' });
    const port = Number(new URL(server.url).port);
    const stuck = rawConnection(port);
    stuck.socket.write(
      'POST /agents/register HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n' +
        'Content-Length: 100\r\n\r\n{"agent_id":',
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    server.child.kill('SIGTERM');
    // Without the timeout, the process would wait for that body for HTTP_REQUEST_TIMEOUT_MS (10 minutes).
    const exit = await server.exited;
    expect(exit.code === 0 || exit.signal === 'SIGTERM').toBe(true);
    expect(server.output).toContain('1 request(s) still open at 3/4 of SHUTDOWN_TIMEOUT (2000 ms)');
    await stuck.closed;
    expect(stuck.response).toBe('');
  });

  it('on SIGHUP reloads the keys file; a file with a bad line, or no key, changes nothing', async () => {
    const { dir, remove } = tempDir();
    try {
      const file = join(dir, 'keys');
      const line = (name: string) => keysFileLine(name, 'reader', `${name}-secret-0123456789`);
      const status = async (name: string) =>
        (await server!.fetch('/agents', { headers: { Authorization: `Bearer ${name}-secret-0123456789` } })).status;
      const reload = async (text: string, logged: RegExp) => {
        writeFileSync(file, text);
        const before = server!.output.length;
        server!.child.kill('SIGHUP');
        for (let tries = 0; tries < 100 && !logged.test(server!.output.slice(before)); tries++) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        expect(server!.output.slice(before)).toMatch(logged);
      };
      writeFileSync(file, `${line('first')}\n`);
      server = await ServerProcess.start({ ...env, REGISTRY_API_KEYS_FILE: file });
      expect([await status('first'), await status('second')]).toEqual([200, 401]);

      await reload(
        `${line('first')}\n${line('second')}\n`,
        /SIGHUP: reloaded the API keys from .*: first \(reader\), second \(reader\)/,
      );
      expect([await status('first'), await status('second')]).toEqual([200, 200]);

      await reload(
        `${line('third')}\nthird-again reader not-a-hash\n`,
        /SIGHUP: the API keys were not reloaded, the 2 in force stay.*line 2: the hash must be 64 hex digits/s,
      );
      expect([await status('first'), await status('second'), await status('third')]).toEqual([200, 200, 401]);

      await reload('# nobody\n', /SIGHUP: the API keys were not reloaded: .* hold no key/);
      expect(await status('first')).toBe(200);

      await reload(`${line('second')}\n`, /SIGHUP: reloaded the API keys/);
      expect([await status('first'), await status('second')]).toEqual([401, 200]);
      // Still serving, and still stops on SIGTERM.
      expect(server.child.exitCode).toBeNull();
    } finally {
      remove();
    }
  });

  it('refuses to boot on bad configuration, naming the variable', async () => {
    const bad = await runToExit(MAIN, { ...env, PORT: 'eighty' });
    expect(bad.code).toBe(1);
    expect(bad.output).toContain('Invalid configuration');
    expect(bad.output).toContain('PORT="eighty"');
  });

  it('with MIGRATE_ON_BOOT=false leaves migrations to `npm run migrate`', async () => {
    server = await ServerProcess.start({ ...env, MIGRATE_ON_BOOT: 'false' });
    // No table yet: a server-side fault, not an outage.
    expect((await server.post('/agents/register', agent('a'))).status).toBe(500);
    await server.stop();

    const migrate = await runToExit(MIGRATE, env);
    expect(migrate).toMatchObject({ code: 0 });
    expect(migrate.output).toContain(`Applied ${sqliteMigrations.length} migration(s)`);

    server = await ServerProcess.start({ ...env, MIGRATE_ON_BOOT: 'false' });
    expect((await server.post('/agents/register', agent('a'))).status).toBe(200);
  });
});

/** The request lines (context `HTTP`) among a server's JSON log lines. */
function requestLines(output: string): RequestLine[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as RequestLine & { context?: string })
    .filter((line) => line.context === 'HTTP');
}
