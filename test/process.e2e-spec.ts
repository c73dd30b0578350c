import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createTestDatabase, onEachDatabase, TestDatabase } from './support/databases';
import { testHttpAdapter } from './support/http-adapter';
import { MAIN, MIGRATE, ServerProcess, runToExit } from './support/server-process';
import { agent } from './support/test-app';
import { sqliteMigrations } from '../src/database/migrations';

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

  it('keeps every acknowledged write through a kill -9 in the middle of concurrent heartbeats and registrations', async () => {
    server = await ServerProcess.start(env);
    expect(server.output).toContain(`(${testHttpAdapter()}), docs at /docs`);
    const first = Array.from({ length: 40 }, (_, i) => `durable-${i}`);
    const registered = await Promise.all(first.map((id) => server!.post('/agents/register', agent(id))));
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
            const res = await server!.post('/agents/register', agent(id));
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

    server = await ServerProcess.start(env);
    for (const id of acknowledgedRegistrations) {
      expect({ id, status: (await server.fetch(`/agents/${id}`)).status }).toEqual({ id, status: 200 });
    }
    for (const [id, acknowledged] of acknowledgedBeats) {
      const info = (await (await server.fetch(`/agents/${id}`)).json()) as { last_heartbeat: string };
      // A later heartbeat may have committed without its answer getting out; never an earlier one.
      expect({ id, stored: info.last_heartbeat >= acknowledged }).toEqual({ id, stored: true });
    }
  });

  it('on SIGTERM stops taking connections, finishes the request in flight, then closes the database', async () => {
    server = await ServerProcess.start(env);
    const port = Number(new URL(server.url).port);
    const body = JSON.stringify(agent('in-flight'));

    // A registration whose body is still arriving when the signal comes.
    const socket = connect(port, '127.0.0.1');
    let response = '';
    socket.on('data', (chunk) => (response += chunk.toString()));
    const closed = new Promise((resolve) => socket.on('close', resolve));
    socket.write(
      `POST /agents/register HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 10)}`,
    );
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

    socket.write(body.slice(10));
    await closed;
    expect(response).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(response).toContain('"agent_id":"in-flight"');

    const exit = await server.exited;
    expect(exit.code === 0 || exit.signal === 'SIGTERM').toBe(true);
    expect(server.output).toContain('SIGTERM: no longer accepting connections');
    // SQLite removes the WAL file only when the last connection closes cleanly.
    if (dialect === 'sqlite') expect(existsSync(join(database.dir, 'registry.sqlite-wal'))).toBe(false);

    server = await ServerProcess.start(env);
    expect((await server.fetch('/agents/in-flight')).status).toBe(200);
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
