import { ServerProcess } from './support/server-process';
import { tempDir } from './support/temp-dir';
import { agent } from './support/test-app';
import { RequestLine } from '../src/common/request-context';

const SECRET = 'fleet-secret-0123456789';
const KEYS = `fleet:agent:${SECRET}`;
/** The contexts of the lines Nest writes as it maps each controller and route. */
const ROUTE_MAPPING = ['RoutesResolver', 'RouterExplorer'];
/** Something only a request body holds: it must never reach the log. */
const BODY_MARKER = 'body-marker-7f3a';

/** The built server as a user runs it, on a SQLite file: what it writes to stdout and stderr is the log. */
describe('Logs (a server process)', () => {
  let server: ServerProcess | undefined;
  let scratch: ReturnType<typeof tempDir>;
  beforeEach(() => (scratch = tempDir()));
  afterEach(async () => {
    await server?.stop();
    server = undefined;
    scratch.remove();
  });

  const start = (env: NodeJS.ProcessEnv = {}) =>
    ServerProcess.start({ DATABASE_URL: `sqlite://${scratch.dir}/registry.sqlite`, REGISTRY_API_KEYS: KEYS, ...env });
  const send = (path: string, init: RequestInit = {}) =>
    server!.fetch(path, {
      ...init,
      headers: { Authorization: `Bearer ${SECRET}`, 'Content-Type': 'application/json', ...init.headers },
    });
  /** Lets the last answers' log lines reach the pipe, then stops the server: everything it logged. */
  const outputAfterStop = async () => {
    await new Promise((resolve) => setTimeout(resolve, 200));
    await server!.stop();
    const output = server!.output;
    server = undefined;
    return output;
  };

  it('writes one JSON object per line: requests with their id, route, status, duration and key, never secrets', async () => {
    server = await start();
    const registered = await send('/agents/register', {
      method: 'POST',
      headers: { 'X-Request-Id': 'log-r1' },
      body: JSON.stringify(agent('logged-1', { metadata: BODY_MARKER })),
    });
    expect(registered.status).toBe(200);
    expect((await send('/agents/logged-1/heartbeat', { method: 'POST' })).status).toBe(200);
    expect((await send('/agents?q=anything', { headers: { 'X-Request-Id': 'log-read' } })).status).toBe(200);
    const output = await outputAfterStop();

    const lines = output.split('\n').filter((line) => line !== '');
    const parsed = lines.map(
      (line) => JSON.parse(line) as { level: string; time: string; msg: string; context?: string },
    );
    for (const line of parsed) {
      expect(line).toEqual(
        expect.objectContaining({ level: expect.any(String), time: expect.any(String), msg: expect.any(String) }),
      );
      expect(Date.parse(line.time)).not.toBeNaN();
    }
    expect(parsed.find((line) => line.context === 'Bootstrap' && /listening/.test(line.msg))?.msg).toMatch(
      /listening on http/,
    );
    // Nest's line per mapped route is at debug; one line at info says how many.
    expect(parsed.filter((line) => ROUTE_MAPPING.includes(line.context ?? ''))).toEqual([]);
    expect(parsed.filter((line) => /^Mapped /.test(line.msg))).toEqual([
      expect.objectContaining({
        level: 'info',
        context: 'Bootstrap',
        msg: expect.stringMatching(/^Mapped \d+ routes/),
      }),
    ]);

    const requests = parsed.filter((line) => line.context === 'HTTP') as unknown as (RequestLine & { level: string })[];
    expect(requests[0]).toEqual(
      expect.objectContaining({
        level: 'info',
        request_id: 'log-r1',
        method: 'POST',
        path: '/agents/register',
        route: '/agents/register',
        status: 200,
        duration_ms: expect.any(Number) as unknown,
        key: 'fleet',
        agent: 'logged-1',
      }),
    );
    expect(requests[1]).toEqual(
      expect.objectContaining({ route: '/agents/:agent_id/heartbeat', status: 200, key: 'fleet', agent: 'logged-1' }),
    );
    // Reads are at debug, which LOG_LEVEL=log (the default) leaves out.
    expect(requests.map((line) => line.request_id)).not.toContain('log-read');
    expect(output).not.toContain(SECRET);
    expect(output).not.toContain(BODY_MARKER);
  });

  it('honours LOG_LEVEL: debug adds the reads', async () => {
    server = await start({ LOG_LEVEL: 'debug' });
    const query = 'q=query-marker-2c9e';
    expect((await send(`/agents?${query}`, { headers: { 'X-Request-Id': 'log-read' } })).status).toBe(200);
    const output = await outputAfterStop();
    // The path is logged, never the query string.
    expect(output).not.toContain('query-marker');
    const read = output
      .split('\n')
      .filter((line) => line.includes('"log-read"'))
      .map((line) => JSON.parse(line) as RequestLine & { level: string });
    expect(read).toEqual([
      expect.objectContaining({ level: 'debug', method: 'GET', path: '/agents', route: '/agents', status: 200 }),
    ]);

    // The routes Nest mapped, one debug line each, as many as the summary says.
    const lines = output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { level: string; context?: string; msg: string });
    const routes = lines.filter((line) => line.context === 'RouterExplorer');
    expect(new Set(lines.filter((line) => ROUTE_MAPPING.includes(line.context ?? '')).map((l) => l.level))).toEqual(
      new Set(['debug']),
    );
    expect(routes.map((line) => line.msg)).toContain('Mapped {/agents/register, POST} route');
    const summary = lines.find((line) => /^Mapped \d+ routes/.test(line.msg));
    expect(summary?.msg).toBe(`Mapped ${routes.length} routes (LOG_LEVEL=debug lists them)`);
  });

  it('logs a docs request the gate refused under the path it asked for, whatever the adapter', async () => {
    server = await start({ LOG_LEVEL: 'debug', REGISTRY_OPEN_ROUTES: 'none' });
    for (const path of ['/docs-json', '/docs/swagger-ui.css']) {
      const res = await server.fetch(path, { headers: { 'X-Request-Id': `denied${path.replace(/\W/g, '-')}` } });
      expect({ path, status: res.status }).toEqual({ path, status: 401 });
    }
    const output = await outputAfterStop();
    const denied = output
      .split('\n')
      .filter((line) => line.includes('"request_id":"denied-'))
      .map((line) => JSON.parse(line) as RequestLine);
    expect(denied.map(({ path, route, status }) => ({ path, route, status }))).toEqual([
      { path: '/docs-json', route: '/docs', status: 401 },
      { path: '/docs/swagger-ui.css', route: '/docs', status: 401 },
    ]);
  });

  it('with LOG_FORMAT=pretty, writes lines for a terminal instead', async () => {
    server = await start({ LOG_FORMAT: 'pretty' });
    expect((await send('/agents/register', { method: 'POST', body: JSON.stringify(agent('pretty-1')) })).status).toBe(
      200,
    );
    const output = await outputAfterStop();
    expect(output).toMatch(/^\[[\d:.]+\] INFO: Agent registry listening on http/m);
    expect(output).toMatch(/^\[[\d:.]+\] INFO: POST \/agents\/register 200 \{.*"key":"fleet".*\}$/m);
    expect(output.split('\n').filter((line) => line.startsWith('{'))).toEqual([]);
    expect(output).not.toContain(SECRET);
  });
});
