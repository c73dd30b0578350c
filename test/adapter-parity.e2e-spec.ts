import { connect } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { onEachDatabase } from './support/databases';
import { listeningUrl } from './support/event-stream';
import { testHttpAdapter } from './support/http-adapter';
import { agent, createTestApp, TestApp } from './support/test-app';

const SECRET = 'parity-secret-0123456789';
const KEY = `Authorization: Bearer ${SECRET}`;

/** An answer as read off the socket. */
interface Answer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
  /** Whether the server closed the connection after it. */
  closed: boolean;
}

/**
 * Sends `request` on a new connection and reads one answer: to its Content-Length, its last chunk, or the end of
 * the connection. Then waits for the server to close the connection if the answer said `Connection: close`.
 */
async function exchange(t: TestApp, request: string | Buffer, timeoutMs = 15_000): Promise<Answer> {
  const { port } = new URL(await listeningUrl(t.server));
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(request));
    let received = Buffer.alloc(0);
    let answer: ReturnType<typeof parseAnswer>;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms; received: ${received.toString().slice(0, 500)}`));
    }, timeoutMs);
    const done = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      const { status, headers, body } = answer!;
      resolve({ status, headers, body, closed });
    };
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      answer ??= parseAnswer(received);
      if (answer && answer.headers.connection !== 'close') done(false);
    });
    socket.on('close', () => {
      answer ??= parseAnswer(received, true);
      if (answer) done(true);
      else reject(new Error(`the connection closed before an answer; received: ${received.toString()}`));
    });
    socket.on('error', () => undefined);
  });
}

/**
 * A complete HTTP/1.1 answer at the start of `bytes`, with the number of bytes it took, or undefined while it is not
 * (`ended`: the connection is over).
 */
function parseAnswer(bytes: Buffer, ended = false): (Omit<Answer, 'closed'> & { length: number }) | undefined {
  const headEnd = bytes.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const [statusLine, ...lines] = bytes.subarray(0, headEnd).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  let raw = bytes.subarray(headEnd + 4);
  let length = bytes.length;
  if (headers['transfer-encoding'] === 'chunked') {
    const chunks: Buffer[] = [];
    let at = headEnd + 4;
    for (;;) {
      const sizeEnd = raw.indexOf('\r\n');
      if (sizeEnd < 0) return undefined;
      const size = parseInt(raw.subarray(0, sizeEnd).toString(), 16);
      if (raw.length < sizeEnd + 2 + size + 2) return undefined;
      at += sizeEnd + 2 + size + 2;
      if (size === 0) break;
      chunks.push(raw.subarray(sizeEnd + 2, sizeEnd + 2 + size));
      raw = raw.subarray(sizeEnd + 2 + size + 2);
    }
    raw = Buffer.concat(chunks);
    length = at;
  } else if (headers['content-length'] !== undefined) {
    const size = Number(headers['content-length']);
    if (raw.length < size) return undefined;
    raw = raw.subarray(0, size);
    length = headEnd + 4 + size;
  } else if (!ended) {
    return undefined;
  }
  const text = raw.toString('utf8');
  return {
    length,
    status: Number(statusLine.split(' ')[1]),
    headers,
    body: /json/.test(headers['content-type'] ?? '') ? (JSON.parse(text) as unknown) : text,
  };
}

/** A request's bytes. */
function http(method: string, target: string, headers: string[] = [], body?: Buffer | string): Buffer {
  const head = [`${method} ${target} HTTP/1.1`, 'Host: registry.example', ...headers];
  if (body !== undefined) head.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), Buffer.from(body ?? '')]);
}

const registration = (id: string) => JSON.stringify(agent(id));
const JSON_TYPE = 'Content-Type: application/json';
const register = (id: string, headers: string[], body: Buffer | string = registration(id)) =>
  http('POST', '/agents/register', [KEY, ...headers], body);

/** What the registry promises for a request, on either adapter. */
interface Expected {
  status: number;
  /** The problem's detail, for an error. */
  detail?: string | RegExp;
  /** Headers the answer carries. */
  headers?: Record<string, string>;
  /** Whether the server closes the connection after the answer (the request asks to keep it). */
  closed?: boolean;
}

type Case = [name: string, request: Buffer | string, expected: Expected];

const CLOSED = { headers: { connection: 'close' }, closed: true };
const UNAUTHORIZED: Expected = { status: 401, detail: /A valid API key is required/ };
const NOT_FOUND: Expected = { status: 404, detail: /^Cannot GET / };

const CASES: Case[] = [
  // What Node's HTTP parser refuses, before any route.
  [
    'headers that arrive too slowly: 408',
    'GET /agents HTTP/1.1\r\nHost: registry.example\r\n',
    { status: 408, detail: /did not arrive in time: its headers must arrive within 1000 ms/, ...CLOSED },
  ],
  [
    'a request head over 16 KiB: 431',
    http('GET', '/agents', [KEY, `X-Padding: ${'x'.repeat(20 * 1024)}`]),
    { status: 431, detail: 'The request line and headers exceed the limit of 16384 bytes.', ...CLOSED },
  ],
  ['a request that is not HTTP: 400', 'HELLO THERE\r\n\r\n', { status: 400, detail: /not valid HTTP/, ...CLOSED }],

  // Bodies.
  [
    'a gzip body: inflated',
    register('gzipped', [JSON_TYPE, 'Content-Encoding: gzip'], gzipSync(registration('gzipped'))),
    { status: 200 },
  ],
  [
    'a deflate body: inflated',
    register('deflated', [JSON_TYPE, 'Content-Encoding: deflate'], deflateSync(registration('deflated'))),
    { status: 200 },
  ],
  [
    'a br body: decoded',
    register('brotli', [JSON_TYPE, 'Content-Encoding: br'], brotliCompressSync(registration('brotli'))),
    { status: 200 },
  ],
  [
    'a gzip body that inflates past BODY_LIMIT (a zip bomb): 413',
    register(
      'bomb',
      [JSON_TYPE, 'Content-Encoding: gzip'],
      gzipSync(JSON.stringify(agent('bomb', { metadata: 'a'.repeat(100_000) }))),
    ),
    { status: 413, detail: 'The request body exceeds the limit of 1024 bytes.', ...CLOSED },
  ],
  [
    'a body that is not the gzip it says: 400',
    register('broken', [JSON_TYPE, 'Content-Encoding: gzip'], 'not gzip at all'),
    { status: 400, detail: /^The request body is not valid gzip data/, ...CLOSED },
  ],
  [
    'an unknown Content-Encoding: 415 listing the known ones',
    register('squeezed', [JSON_TYPE, 'Content-Encoding: compress']),
    {
      status: 415,
      detail: 'unsupported content encoding "compress": send the body as gzip, deflate, br, or uncompressed',
      headers: { 'accept-encoding': 'gzip, deflate, br', connection: 'close' },
      closed: true,
    },
  ],
  [
    'a UTF-8 byte order mark: ignored',
    register('marked', [JSON_TYPE], `\ufeff${registration('marked')}`),
    { status: 200 },
  ],
  [
    'a malformed charset parameter: 400',
    register('quoted', ['Content-Type: application/json; charset="']),
    {
      status: 400,
      detail: /^The Content-Type header is not a media type .*: "application\/json; charset=\\""$/,
      ...CLOSED,
    },
  ],
  [
    'a Content-Type that is no media type: 400',
    register('typeless', ['Content-Type: json']),
    { status: 400, detail: /^The Content-Type header is not a media type/, ...CLOSED },
  ],
  [
    'a charset other than UTF-8: 415',
    register('latin', ['Content-Type: application/json; charset=latin1']),
    { status: 415, detail: 'unsupported charset "LATIN1"', ...CLOSED },
  ],
  [
    'malformed JSON: 400',
    register('bad', [JSON_TYPE], '{"agent_id":'),
    { status: 400, detail: 'Unexpected end of JSON input', ...CLOSED },
  ],
  ['a body on a GET: ignored', http('GET', '/agents?limit=1', [KEY, JSON_TYPE], '{oops'), { status: 200 }],

  // Paths: case-sensitive and exact; percent-encoded unreserved characters and absolute-form targets are equivalent.
  ['a path in another case: 404', http('GET', '/AGENTS', [KEY]), NOT_FOUND],
  ['a trailing slash: 404', http('GET', '/agents/', [KEY]), NOT_FOUND],
  [
    'a trailing slash on a write: 404',
    register('slashed', [JSON_TYPE]).toString().replace('/register ', '/register/ '),
    { status: 404, detail: /^Cannot POST / },
  ],
  ['percent-encoded letters: the same route', http('GET', '/%61gents?limit=1', [KEY]), { status: 200 }],
  ['percent-encoded letters, without a key: 401', http('GET', '/%61gents'), UNAUTHORIZED],
  [
    'an absolute-form target: the same route',
    http('GET', 'http://registry.example/agents?limit=1', [KEY]),
    { status: 200 },
  ],
  ['an absolute-form target, without a key: 401', http('GET', 'http://registry.example/agents'), UNAUTHORIZED],
  ['an unknown path, percent-encoded: 404', http('GET', '/%61gentz', [KEY]), NOT_FOUND],
  ['an unknown path, absolute-form: 404', http('GET', 'http://registry.example/nowhere', [KEY]), NOT_FOUND],
  // A body is read, and refused, before the route is looked up, on both.
  [
    'malformed JSON to an unknown path: 400',
    http('POST', '/nowhere', [KEY, JSON_TYPE], '{oops'),
    { status: 400, detail: /in JSON at position 1/, ...CLOSED },
  ],
  [
    'a body over BODY_LIMIT to an unknown path: 413',
    http('POST', '/nowhere', [KEY, JSON_TYPE], JSON.stringify({ x: 'a'.repeat(2000) })),
    { status: 413, detail: 'The request body exceeds the limit of 1024 bytes.', ...CLOSED },
  ],
  [
    'an unknown Content-Encoding to an unknown path: 415',
    http('POST', '/nowhere', [KEY, JSON_TYPE, 'Content-Encoding: zz'], '{}'),
    { status: 415, detail: /^unsupported content encoding "zz"/, ...CLOSED },
  ],
  [
    'a valid body to an unknown path: 404',
    http('POST', '/nowhere', [KEY, JSON_TYPE], '{}'),
    { status: 404, detail: 'Cannot POST /nowhere' },
  ],

  // The docs, closed by REGISTRY_OPEN_ROUTES=none: every spelling that reaches them needs a key.
  ['/docs-json without a key: 401', http('GET', '/docs-json'), UNAUTHORIZED],
  ['/docs-json with a key: 200', http('GET', '/docs-json', [KEY]), { status: 200 }],
  ['/DOCS-JSON: 404', http('GET', '/DOCS-JSON'), NOT_FOUND],
  ['/Docs/: 404', http('GET', '/Docs/'), NOT_FOUND],
  ['/docs-json/ without a key: 401 (below the docs)', http('GET', '/docs-json/'), UNAUTHORIZED],
  ['/docs-json/ with a key: 404', http('GET', '/docs-json/', [KEY]), NOT_FOUND],
  ['/%64ocs-json without a key: 401', http('GET', '/%64ocs-json'), UNAUTHORIZED],
  ['/%64ocs-json with a key: 200', http('GET', '/%64ocs-json', [KEY]), { status: 200 }],
  ['/docs%2Djson without a key: 401', http('GET', '/docs%2Djson'), UNAUTHORIZED],
  ['/docs%2Djson with a key: 200', http('GET', '/docs%2Djson', [KEY]), { status: 200 }],
  ['GET http://host/docs-json without a key: 401', http('GET', 'http://registry.example/docs-json'), UNAUTHORIZED],
  [
    'GET http://host/docs-json with a key: 200',
    http('GET', 'http://registry.example/docs-json', [KEY]),
    { status: 200 },
  ],
  ['/docs/ without a key: 401', http('GET', '/docs/'), UNAUTHORIZED],
  ['/%64ocs/swagger-ui.css without a key: 401', http('GET', '/%64ocs/swagger-ui.css'), UNAUTHORIZED],
  ['/%64ocs/swagger-ui.css with a key: 200', http('GET', '/%64ocs/swagger-ui.css', [KEY]), { status: 200 }],
  ['/docs-yaml without a key: 401', http('GET', '/docs-yaml'), UNAUTHORIZED],
];

/** What must be equal on both adapters: everything but the request id and the order of the headers. */
function comparable({ status, headers, body, closed }: Answer) {
  const shown = [
    'content-type',
    'connection',
    'accept-encoding',
    'www-authenticate',
    'keep-alive',
    // helmet's security headers, on every answer that passed the HTTP parser (a 401 from the docs gate too).
    'content-security-policy',
    'x-content-type-options',
    'x-frame-options',
    'strict-transport-security',
    'cross-origin-resource-policy',
  ];
  return {
    status,
    headers: Object.fromEntries(shown.filter((name) => headers[name] !== undefined).map((n) => [n, headers[n]])),
    body,
    closed,
  };
}

/**
 * Express and Fastify answer alike: each request of the table goes, as raw bytes, to one app on each adapter, and
 * the answers must be the same (status, content type, the headers that matter, body, whether the connection closes)
 * and what the registry promises. It builds both adapters itself, so it runs in one jest project.
 */
const onBothAdapters =
  testHttpAdapter() === 'express' ? describe.each(onEachDatabase()) : describe.skip.each(onEachDatabase());

onBothAdapters('Express and Fastify answer alike (HTTP + %s)', (dialect) => {
  let apps: TestApp[] = [];
  const start = (env: NodeJS.ProcessEnv) =>
    Promise.all(
      (['express', 'fastify'] as const).map((adapter) =>
        createTestApp(
          {
            HTTP_ADAPTER: adapter,
            REGISTRY_API_KEYS: `ops:admin:${SECRET}`,
            REGISTRY_OPEN_ROUTES: 'none',
            HTTP_HEADERS_TIMEOUT_MS: '1000',
            HTTP_REQUEST_TIMEOUT_MS: '2000',
            BODY_LIMIT: '1kb',
            ...env,
          },
          dialect,
        ),
      ),
    );
  afterEach(async () => {
    await Promise.all(apps.map((t) => t.close()));
    apps = [];
  });

  it('answers every request of the table the same, as promised', async () => {
    apps = await start({});
    expect(apps.map((t) => t.config.httpAdapter)).toEqual(['express', 'fastify']);
    const differences: string[] = [];
    for (const [name, request, expected] of CASES) {
      const [onExpress, onFastify] = [await exchange(apps[0], request), await exchange(apps[1], request)];
      const check = () => {
        expect(comparable(onFastify)).toEqual(comparable(onExpress));
        expect(onExpress.status).toBe(expected.status);
        if (expected.status >= 400) {
          expect(onExpress.headers['content-type']).toBe('application/problem+json; charset=utf-8');
          expect(onExpress.body).toMatchObject({ type: 'about:blank', status: expected.status });
          expect((onExpress.body as { detail: string }).detail).toEqual(
            typeof expected.detail === 'string' ? expected.detail : expect.stringMatching(expected.detail!),
          );
        }
        expect(onExpress.headers).toMatchObject(expected.headers ?? {});
        expect(onExpress.closed).toBe(expected.closed ?? false);
      };
      try {
        check();
      } catch (error) {
        differences.push(`${name}:\n${(error as Error).message}`);
      }
    }
    // Every case is reported, not only the first that differs.
    expect(differences).toEqual([]);
  }, 120_000);

  it('closes an idle kept-alive connection after HTTP_KEEPALIVE_TIMEOUT_MS: 72 s by default, on both', async () => {
    apps = await start({});
    for (const t of apps) {
      // Longer than the 60 s idle timeout of common load balancers, so that they close first.
      expect(t.server.keepAliveTimeout).toBe(72_000);
      expect((await exchange(t, http('GET', '/health/live', [KEY]))).headers['keep-alive']).toBe('timeout=72');
    }
    await Promise.all(apps.map((t) => t.close()));

    apps = await start({ HTTP_KEEPALIVE_TIMEOUT_MS: '1500' });
    for (const t of apps) {
      const idle = await idleConnection(t);
      expect(idle.statuses).toEqual([200, 200]);
      expect(idle.keepAlive).toBe('timeout=1');
      // Never before the timeout (load can only make it later; the test's own timeout bounds it from above).
      expect(idle.openMs).toBeGreaterThanOrEqual(1400);
    }
  }, 60_000);
});

/**
 * Sends two requests, one after the other's answer, on one kept-alive connection (it is still open then), and
 * resolves once the server closes it: how long it stayed open after the second answer.
 */
async function idleConnection(t: TestApp): Promise<{ statuses: number[]; keepAlive?: string; openMs: number }> {
  const { port } = new URL(await listeningUrl(t.server));
  const request = http('GET', '/health/live', [KEY]);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(request));
    const statuses: number[] = [];
    let keepAlive: string | undefined;
    let received = Buffer.alloc(0);
    let answeredAt = 0;
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      for (let answer = parseAnswer(received); answer; answer = parseAnswer(received)) {
        received = received.subarray(answer.length);
        statuses.push(answer.status);
        keepAlive = answer.headers['keep-alive'];
        answeredAt = Date.now();
        if (statuses.length === 1) socket.write(request);
      }
    });
    socket.on('close', () => resolve({ statuses, keepAlive, openMs: Date.now() - answeredAt }));
    socket.on('error', reject);
  });
}
