import fc from 'fast-check';
import { request as httpRequest } from 'node:http';
import { onEachDatabase } from './support/databases';
import { listeningUrl } from './support/event-stream';
import { agent, createTestApp, TestApp } from './support/test-app';

/**
 * Random requests at every route: random methods, paths, ids, query strings, headers, keys and bodies. Whatever they
 * are, the registry answers below 500, and no request changes an agent its key may not change: `victim` is owned by
 * `fleet-b`, and no request from no key, an unknown key, a reader or `fleet-a` may alter or remove it.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 400);

const SECRETS = {
  reader: 'reader-secret-0123456789',
  'fleet-a': 'fleet-a-secret-0123456789',
  'fleet-b': 'fleet-b-secret-0123456789',
  admin: 'admin-secret-0123456789',
};
const KEYS = [
  `reader:reader:${SECRETS.reader}`,
  `fleet-a:agent:${SECRETS['fleet-a']}`,
  `fleet-b:agent:${SECRETS['fleet-b']}`,
  `admin:admin:${SECRETS.admin}`,
].join(',');
type Caller = keyof typeof SECRETS | 'nobody' | 'unknown';
/** Callers that may change the victim: after their requests it is put back. */
const MAY_CHANGE_VICTIM: Caller[] = ['fleet-b', 'admin'];

const VICTIM = agent('victim', { capabilities: ['x'], labels: { team: 'b' } });

const text = (maxLength: number) =>
  fc.oneof(
    fc.string({ maxLength }),
    fc.string({ maxLength, unit: 'binary' }),
    fc.constantFrom('', ' ', '%00', '..', '%', '\u0000', 'a'.repeat(300)),
  );
// Mostly the victim: the requests that must fail are the ones aimed at it.
const id = fc.oneof(
  { weight: 3, arbitrary: fc.constant('victim') },
  { weight: 1, arbitrary: fc.constantFrom('mine', 'ghost', 'a:b', 'a@b.c') },
  { weight: 1, arbitrary: text(40) },
);
const path = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '/agents',
      '/agents/register',
      '/events',
      '/sd/prometheus',
      '/health',
      '/health/live',
      '/health/ready',
      '/admin/expiry-guard/release',
      '/docs-json',
      '/',
    ),
  },
  {
    weight: 4,
    arbitrary: fc
      .tuple(id, fc.constantFrom('', '/heartbeat', '/card', '/x'))
      .map(([agentId, tail]) => `/agents/${encodeURIComponent(agentId)}${tail}`),
  },
  { weight: 1, arbitrary: text(30).map((raw) => `/${raw.split('/').map(encodeURIComponent).join('/')}`) },
);
const query = fc.oneof(
  fc.constant(''),
  fc
    .array(
      fc.tuple(
        fc.oneof(
          fc.constantFrom('limit', 'cursor', 'capability', 'label', 'skill', 'name', 'q', 'include_dead', 'since'),
          text(10),
        ),
        fc.oneof(text(20), fc.integer().map(String), fc.constantFrom('x:y', 'true', '0', '1001', '-1')),
      ),
      { maxLength: 5 },
    )
    .map((pairs) => `?${new URLSearchParams(pairs).toString()}`),
);
const caller = fc.constantFrom<Caller>('nobody', 'unknown', 'reader', 'fleet-a', 'fleet-b', 'admin');
/** What a header value may hold (Node refuses to send control characters and code points over 255). */
const headerText = (maxLength: number) => fc.string({ maxLength, unit: 'grapheme-ascii' });
const headers = fc.record(
  {
    'content-type': fc.oneof(
      fc.constantFrom('application/json', 'application/json; charset=latin1', 'text/plain', 'x/y'),
      headerText(20),
    ),
    'x-request-id': headerText(20),
    'last-event-id': headerText(10),
    'if-none-match': headerText(10),
    'x-api-key': headerText(30),
  },
  { requiredKeys: [] },
);
const registration = fc.record(
  {
    agent_id: id,
    agent_name: fc.oneof(text(20), fc.jsonValue()),
    host: fc.oneof(text(20), fc.constantFrom('10.0.0.1', '::1', 'example.com')),
    port: fc.oneof(fc.integer({ min: -10, max: 70_000 }), fc.jsonValue()),
    ttl_seconds: fc.oneof(fc.integer({ min: -5, max: 5000 }), fc.jsonValue()),
    metadata: fc.oneof(text(20), fc.jsonValue()),
    capabilities: fc.oneof(fc.array(text(10), { maxLength: 5 }), fc.jsonValue()),
    labels: fc.oneof(fc.dictionary(text(8), text(8), { maxKeys: 4 }), fc.jsonValue()),
    agent_card: fc.jsonValue({ maxDepth: 3 }),
  },
  { requiredKeys: [] },
);
const body = fc.oneof(
  fc.constant(undefined),
  registration.map((value) => JSON.stringify(value)),
  fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
  text(50),
);
const method = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('GET', 'POST', 'DELETE') },
  { weight: 1, arbitrary: fc.constantFrom('PUT', 'PATCH', 'HEAD', 'OPTIONS') },
);

interface Answer {
  status: number;
  body: string;
}

/** One request on a connection of its own; an event stream is cut once its head has arrived. */
function send(
  base: string,
  req: { method: string; target: string; headers: Record<string, string>; body?: string },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // Framed: Node sends a DELETE's body without Content-Length, which the server reads as a second request.
    const framing = req.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(req.body)) };
    const outgoing = httpRequest(
      `${base}${req.target}`,
      { method: req.method, headers: { ...req.headers, ...framing }, agent: false },
      (response) => {
        if (String(response.headers['content-type']).startsWith('text/event-stream')) {
          response.destroy();
          resolve({ status: response.statusCode ?? 0, body: '' });
          return;
        }
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
        response.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(req.body);
  });
}

describe.each(onEachDatabase())('Fuzz: random requests at every route (HTTP + %s)', (dialect) => {
  let t: TestApp;
  let base: string;

  beforeAll(async () => {
    t = await createTestApp({ REGISTRY_API_KEYS: KEYS }, dialect);
    base = await listeningUrl(t.server);
  });
  afterAll(() => t.close());

  const victimRow = async (): Promise<string> =>
    JSON.stringify(
      await t.orm.em.fork().getConnection().execute('select * from agent_record where agent_id = ?', ['victim']),
    );
  const restoreVictim = async () => {
    const res = await send(base, {
      method: 'POST',
      target: '/agents/register',
      headers: { authorization: `Bearer ${SECRETS['fleet-b']}`, 'content-type': 'application/json' },
      body: JSON.stringify(VICTIM),
    });
    if (res.status !== 200) throw new Error(`restoring the victim: ${res.status} ${res.body}`);
  };

  it(`answers below 500 and never changes an agent the caller may not change (${RUNS} cases)`, async () => {
    await restoreVictim();
    let before = await victimRow();
    const statuses = new Map<number, number>();
    let cases = 0;
    const recent: string[] = [];
    await fc.assert(
      fc.asyncProperty(
        method,
        path,
        query,
        caller,
        headers,
        body,
        async (verb, target, search, who, extra, payload) => {
          cases++;
          const requestHeaders: Record<string, string> = { ...extra };
          if (who !== 'nobody') {
            requestHeaders.authorization = `Bearer ${who === 'unknown' ? 'not-a-key-0123456789' : SECRETS[who]}`;
          }
          // Only the chosen caller's key: a random X-API-Key is sent only by callers without Authorization.
          if (who !== 'nobody') delete requestHeaders['x-api-key'];
          const answer = await send(base, {
            method: verb,
            target: `${target}${search}`,
            headers: requestHeaders,
            body: verb === 'GET' || verb === 'HEAD' ? undefined : payload,
          });
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
          recent.push(
            `${verb} ${target}${search} as ${who} → ${answer.status} ${JSON.stringify({ requestHeaders, payload, answer: answer.body.slice(0, 300) })}`,
          );
          if (recent.length > 5) recent.shift();
          if (answer.status >= 500) {
            throw new Error(`${verb} ${target}${search} as ${who} answered ${answer.status}: ${answer.body}`);
          }
          const after = await victimRow();
          if (MAY_CHANGE_VICTIM.includes(who)) {
            if (after !== before) {
              await restoreVictim();
              before = await victimRow();
            }
          } else if (after !== before) {
            throw new Error(
              `${verb} ${target}${search} as ${who} changed the victim:\n${before}\n${after}\nafter: ${recent.join('\n')}`,
            );
          }
        },
      ),
      // No shrinking: the registry keeps its state between cases, so a replayed case alone proves nothing.
      { numRuns: RUNS, endOnFailure: true },
    );
    console.log(
      `Fuzz (${dialect}): ${cases} cases, statuses ${[...statuses.entries()]
        .sort(([a], [b]) => a - b)
        .map(([status, count]) => `${status}×${count}`)
        .join(' ')}`,
    );
    expect(cases).toBeGreaterThanOrEqual(RUNS);
  }, 120_000);
});
