import { Logger } from '@nestjs/common';
import { once } from 'node:events';
import { AddressInfo, connect } from 'node:net';
import request from 'supertest';
import { onEachDatabase } from './support/databases';
import { agent, createTestApp, TestApp } from './support/test-app';

/**
 * Every class of bad input gets a 4xx problem-details answer (never a 500), and leaves what is stored unchanged.
 */
describe.each(onEachDatabase())('Bad input (HTTP + %s)', (dialect) => {
  let t: TestApp;
  let keeper: Record<string, unknown>;

  beforeAll(async () => {
    t = await createTestApp({}, dialect);
    keeper = (
      await request(t.server)
        .post('/agents/register')
        .send(agent('keeper', { metadata: 'original' }))
        .expect(200)
    ).body as Record<string, unknown>;
  });

  afterEach(async () => {
    // Nothing a rejected request sent may have changed or added anything.
    const all = await request(t.server).get('/agents?include_dead=true').expect(200);
    expect(all.body).toEqual([keeper]);
  });

  afterAll(async () => {
    await t.close();
  });

  function expectProblem(res: request.Response, status: number) {
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ type: 'about:blank', status });
    expect(typeof res.body.title).toBe('string');
    expect(typeof res.body.detail).toBe('string');
    expect(res.body.detail.length).toBeGreaterThan(0);
  }

  const register = (body: unknown) =>
    request(t.server)
      .post('/agents/register')
      .send(body as object);

  describe('registration field rules: 400 naming the field', () => {
    const cases: [string, string, Record<string, unknown>][] = [
      ['agent_id', 'missing', { agent_id: undefined }],
      ['agent_id', 'empty', { agent_id: '' }],
      ['agent_id', '256 characters', { agent_id: 'a'.repeat(256) }],
      ['agent_id', '2000 characters', { agent_id: 'a'.repeat(2000) }],
      ['agent_id', 'a number', { agent_id: 42 }],
      ['agent_id', 'starting with a dash', { agent_id: '-abc' }],
      ['agent_id', 'with a space', { agent_id: 'a b' }],
      ['agent_id', 'an SQL injection', { agent_id: "' OR 1=1" }],
      ['agent_id', 'with a NUL byte', { agent_id: 'a\u0000b' }],
      ['agent_id', 'with a slash', { agent_id: 'a/b' }],
      ['agent_id', 'non-ASCII', { agent_id: 'agént' }],
      ['agent_name', 'missing', { agent_name: undefined }],
      ['agent_name', 'empty', { agent_name: '' }],
      ['agent_name', '257 characters', { agent_name: 'n'.repeat(257) }],
      ['agent_name', 'not a string', { agent_name: ['x'] }],
      ['agent_name', 'with a control character', { agent_name: 'a\nb' }],
      ['host', 'missing', { host: undefined }],
      ['host', 'empty', { host: '' }],
      ['host', '257 characters', { host: 'h'.repeat(257) }],
      ['host', 'null', { host: null }],
      ['host', 'with whitespace', { host: 'evil host' }],
      ['port', 'missing', { port: undefined }],
      ['port', '0', { port: 0 }],
      ['port', '65536', { port: 65536 }],
      ['port', 'negative', { port: -1 }],
      ['port', 'fractional', { port: 80.5 }],
      ['port', 'a numeric string', { port: '8080' }],
      ['port', 'null', { port: null }],
      ['port', 'an object', { port: { $gt: 0 } }],
      ['ttl_seconds', '0', { ttl_seconds: 0 }],
      ['ttl_seconds', '3601', { ttl_seconds: 3601 }],
      ['ttl_seconds', 'fractional', { ttl_seconds: 1.5 }],
      ['ttl_seconds', 'a numeric string', { ttl_seconds: '60' }],
      ['ttl_seconds', 'null', { ttl_seconds: null }],
      ['metadata', '4001 characters', { metadata: 'm'.repeat(4001) }],
      ['metadata', 'a number', { metadata: 7 }],
      ['metadata', 'an object', { metadata: { a: 1 } }],
      ['metadata', 'with a NUL character', { metadata: 'a\u0000b' }],
      ['metadata', 'with an unpaired surrogate', { metadata: 'a\ud800b' }],
      ['agent_name', 'with an unpaired surrogate', { agent_name: 'a\udc00' }],
      ['host', 'with an unpaired surrogate', { host: '\ud800' }],
    ];

    it.each(cases)('%s %s', async (field, _what, change) => {
      const res = await register(agent('newcomer', change));
      expectProblem(res, 400);
      expect(res.body.errors).toEqual(
        expect.arrayContaining([expect.objectContaining({ field, in: 'body', detail: expect.any(String) })]),
      );
      expect(res.body.errors.every((e: { field: string }) => e.field === field)).toBe(true);
      expect(res.body.detail).toContain(field);
    });

    it.each(cases.filter(([field]) => field !== 'agent_id'))(
      'does not change an existing agent: %s %s',
      async (field, _what, change) => {
        const res = await register(agent('keeper', { metadata: 'changed', ...change }));
        expectProblem(res, 400);
        expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual(expect.arrayContaining([field]));
      },
    );

    it.each([
      ['port', '8080', 'port must be an integer between 1 and 65535'],
      ['port', 0, 'port must be an integer between 1 and 65535'],
      ['port', 80.5, 'port must be an integer between 1 and 65535'],
      ['ttl_seconds', '60', 'ttl_seconds must be an integer between 1 and 3600'],
      ['ttl_seconds', 3601, 'ttl_seconds must be an integer between 1 and 3600'],
    ])('%s %j: one message that says what the field takes', async (field, value, detail) => {
      const res = await register(agent('newcomer', { [field]: value }));
      expectProblem(res, 400);
      expect(res.body.errors).toEqual([{ field, in: 'body', detail }]);
      expect(res.body.detail).toBe(`Invalid request: ${detail}`);
    });

    it('names every bad field at once', async () => {
      const res = await register({ agent_id: '', port: 'x', ttl_seconds: 0 });
      expectProblem(res, 400);
      const fields = new Set(res.body.errors.map((e: { field: string }) => e.field));
      expect(fields).toEqual(new Set(['agent_id', 'agent_name', 'host', 'port', 'ttl_seconds']));
    });

    it('ignores unknown fields rather than storing them, whatever they hold', async () => {
      const res = await register(
        agent('keeper', {
          metadata: 'original',
          extra: 'x',
          nested: { constructor: 'y', toString: 'z' },
          prototype: { constructor: { a: 1 } },
        }),
      );
      expect(res.status).toBe(200);
      expect(res.body).not.toHaveProperty('extra');
      expect(res.body).not.toHaveProperty('nested');
      expect(res.body).not.toHaveProperty('prototype');
      keeper = { ...keeper, last_heartbeat: res.body.last_heartbeat, expires_at: res.body.expires_at };
    });
  });

  describe('members shaped to pollute prototypes: 400 naming the path, nothing polluted', () => {
    /** The body of `agent(id, fields)`, with raw JSON members spliced in (`__proto__` cannot be sent as an object key). */
    const rawBody = (fields: Record<string, unknown>, raw: string) =>
      JSON.stringify(agent('keeper', { metadata: 'changed', ...fields })).replace(/}$/, `,${raw}}`);

    it.each([
      ['__proto__ at the top', {}, '"__proto__":{"polluted":1}', '__proto__', /^__proto__: a member named __proto__/],
      [
        '__proto__ as a label',
        {},
        '"labels":{"ok":"v","__proto__":"x"}',
        'labels',
        /labels\.__proto__: a member named/,
      ],
      [
        '__proto__ deep in a card',
        {},
        '"agent_card":{"name":"n","skills":[{"id":"s","x":{"__proto__":{"polluted":1}}}]}',
        'agent_card',
        /agent_card\.skills\[0\]\.x\.__proto__: a member named __proto__/,
      ],
      [
        'constructor.prototype at the top',
        {},
        '"constructor":{"prototype":{"polluted":1}}',
        'constructor',
        /^constructor: a constructor member holding a prototype/,
      ],
      [
        'constructor.prototype in a card',
        {},
        '"agent_card":{"constructor":{"prototype":{"polluted":1}}}',
        'agent_card',
        /agent_card\.constructor: a constructor member holding a prototype/,
      ],
    ])('%s', async (_what, fields, raw, field, detail) => {
      const res = await request(t.server)
        .post('/agents/register')
        .set('Content-Type', 'application/json')
        .send(rawBody(fields, raw));
      expectProblem(res, 400);
      expect(res.body.errors).toEqual([{ field, in: 'body', detail: expect.stringMatching(detail) }]);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });
  });

  describe('bodies nested too deep: 400 naming the field, not a stack overflow', () => {
    const nested = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);

    it.each([
      ['a card 65 levels deep', 'agent_card', `{"x":${nested(63)}}`],
      ['an unknown field nested 60,000 levels', 'extra', nested(60_000)],
      ['a label nested 10,000 levels', 'labels', `{"k":${nested(9_999)}}`],
      ['a field with a 100,000-character name (named by its first 64)', 'n'.repeat(100_000), nested(65)],
    ])('%s', async (_what, field, json) => {
      const body = JSON.stringify(agent('keeper', { metadata: 'changed' })).replace(/}$/, `,"${field}":${json}}`);
      const res = await request(t.server).post('/agents/register').set('Content-Type', 'application/json').send(body);
      expectProblem(res, 400);
      const named = field.length > 64 ? `${field.slice(0, 64)}…` : field;
      expect(res.body.errors).toEqual([
        { field: named, in: 'body', detail: `${named} nests arrays and objects more than 64 levels deep` },
      ]);
    });
  });

  describe('bodies that are not a JSON object', () => {
    const post = () => request(t.server).post('/agents/register');

    it('a client that hangs up mid-body: a client error, not a database outage', async () => {
      const replied = jest.spyOn(t.app.getHttpAdapter(), 'reply');
      const warned = jest.spyOn(Logger.prototype, 'warn');
      try {
        if (!t.server.listening) t.server.listen(0, '127.0.0.1');
        if (!t.server.listening) await once(t.server, 'listening');
        const socket = connect((t.server.address() as AddressInfo).port, '127.0.0.1');
        await once(socket, 'connect');
        socket.write(
          'POST /agents/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a',
        );
        await new Promise((resolve) => setTimeout(resolve, 50));
        socket.destroy();
        // The problem-details filter still answers, into a closed socket.
        for (let tries = 0; tries < 100 && replied.mock.calls.length === 0; tries++) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        expect(replied.mock.calls.map((call) => call[2])).toEqual([400]);
        expect(warned.mock.calls.flat().join('\n')).not.toMatch(/Database unavailable/);
      } finally {
        replied.mockRestore();
        warned.mockRestore();
      }
    });

    it('malformed JSON: 400', async () => {
      const res = await post().set('Content-Type', 'application/json').send('{"agent_id": "x",');
      expectProblem(res, 400);
    });

    it.each([
      ['an array', '[{"agent_id":"x"}]'],
      ['a string', '"agent"'],
      ['a number', '42'],
      ['null', 'null'],
      ['true', 'true'],
    ])('%s: 400', async (_what, body) => {
      const res = await post().set('Content-Type', 'application/json').send(body);
      expectProblem(res, 400);
    });

    it('an empty body: 400', async () => {
      expectProblem(await post().set('Content-Type', 'application/json').send(''), 400);
      expectProblem(await post(), 400);
    });

    it('a body that is not JSON: 400', async () => {
      const res = await post().set('Content-Type', 'text/plain').send('agent_id=x');
      expectProblem(res, 400);
      expect(res.body.detail).toMatch(/JSON object/);
    });

    it('a body in a charset other than UTF-8: 415', async () => {
      const res = await request(t.server)
        .post('/agents/register')
        .set('Content-Type', 'application/json; charset=latin1')
        .send(JSON.stringify(agent('newcomer')));
      expectProblem(res, 415);
    });

    it.each(['utf-16', 'utf8', 'iso-8859-1'])('charset=%s: 415 (JSON is UTF-8)', async (charset) => {
      const res = await post()
        .set('Content-Type', `application/json; charset=${charset}`)
        .send(JSON.stringify(agent('newcomer')));
      expectProblem(res, 415);
      expect(res.body.detail).toBe(`unsupported charset "${charset.toUpperCase()}"`);
    });

    it('application/*+json is read as JSON too', async () => {
      const malformed = '{"agent_id": "x",';
      const asJson = await post().set('Content-Type', 'application/json').send(malformed);
      const asProblemJson = await post()
        .set('Content-Type', 'application/vnd.registry+json; charset=utf-8')
        .send(malformed);
      expectProblem(asProblemJson, 400);
      expect(asProblemJson.body.detail).toBe(asJson.body.detail);
      expect(asProblemJson.body.detail).not.toMatch(/JSON object/);
    });

    it('a body over the limit (128 KiB by default, room for a 64 KiB card): 413', async () => {
      const res = await register(agent('big', { metadata: 'm'.repeat(130 * 1024) }));
      expectProblem(res, 413);
      expect(res.body.detail).toContain('131072 bytes');
    });

    it('malformed JSON on a heartbeat: 400', async () => {
      const res = await request(t.server)
        .post('/agents/keeper/heartbeat')
        .set('Content-Type', 'application/json')
        .send('{oops');
      expectProblem(res, 400);
    });
  });

  describe('hostile agent ids in the path: 400, nothing touched', () => {
    const ids = [
      ["an SQL injection ' OR 1=1", "'%20OR%201=1"],
      ['a NUL byte', '%00'],
      ['an id of 2000 characters', 'a'.repeat(2000)],
      ['an encoded slash', 'keeper%2F..'],
      ['a leading dot', '..'],
      ['a wildcard', '%25'],
    ];

    it.each(ids)('%s', async (_what, id) => {
      for (const res of [
        await request(t.server).get(`/agents/${id}`),
        await request(t.server).post(`/agents/${id}/heartbeat`),
        await request(t.server).delete(`/agents/${id}`),
      ]) {
        expectProblem(res, 400);
        expect(res.body.errors).toEqual([expect.objectContaining({ field: 'agent_id', in: 'path' })]);
      }
    });

    it.each([
      ['a bad character', 'a*b'],
      ['too long', 'a'.repeat(256)],
      ['too long and a bad character', `-${'a'.repeat(300)}`],
    ])('the path answers what the body answers: %s', async (_what, id) => {
      const inPath = await request(t.server).get(`/agents/${id}`);
      const inBody = await register(agent(id, { agent_name: 'Long' }));
      expectProblem(inPath, 400);
      expect(inPath.body.detail).toBe(inBody.body.detail);
      expect(inPath.body.errors).toEqual(
        (inBody.body.errors as { in: string }[]).map((error) => ({ ...error, in: 'path' })),
      );
    });

    it('broken percent-encoding: 400', async () => {
      expectProblem(await request(t.server).get('/agents/%E0%A4%A'), 400);
      expectProblem(await request(t.server).delete('/agents/%'), 400);
    });
  });

  describe('query parameters', () => {
    it.each(['maybe', '', '2'])('include_dead=%s: 400 naming it', async (value) => {
      const res = await request(t.server).get(`/agents?include_dead=${value}`);
      expectProblem(res, 400);
      expect(res.body.errors).toEqual([expect.objectContaining({ field: 'include_dead', in: 'query' })]);
    });

    it('include_dead given twice: 400', async () => {
      expectProblem(await request(t.server).get('/agents?include_dead=true&include_dead=false'), 400);
    });
  });

  describe('unknown routes and methods', () => {
    it.each([
      ['GET', '/nowhere'],
      ['PUT', '/agents'],
      ['PATCH', '/agents/keeper'],
      ['POST', '/agents/keeper'],
      ['GET', '/agents/keeper/heartbeat'],
    ])('%s %s: JSON 404', async (method, path) => {
      const res = await request(t.server)[method.toLowerCase() as 'get'](path);
      expectProblem(res, 404);
    });
  });
});
