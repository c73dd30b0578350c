import { get, IncomingMessage, request as httpRequest, ServerResponse } from 'node:http';
import { join } from 'node:path';
import request from 'supertest';
import { EXAMPLE_AGENT_CARD } from '../src/registry/agent-card';
import { registrationOf } from '../src/registry/persistence/agent-rows';
import { RegistryWriter } from '../src/registry/persistence/registry-writer';
import * as agentRepository from '../src/registry/persistence/agent.repository';
import { LIST_CHUNK, LIST_CHUNK_BYTES } from '../src/registry/agent-list';
import { onEachDatabase } from './support/databases';
import { createTestApp, TestApp } from './support/test-app';

/**
 * `GET /agents` without `limit` (the full list) is read and sent LIST_CHUNK agents (or LIST_CHUNK_BYTES) at a time: the same JSON text as
 * the whole array, memory that does not grow with the list or with a slow client, heartbeats served in between.
 */

type Agent = { agent_id: string; is_alive: boolean };

const id = (i: number) => `agent-${String(i).padStart(4, '0')}`;

/** Registers `count` agents through the writer, a run at a time; agent i gets what `fields(i)` adds. */
async function seed(
  t: TestApp,
  count: number,
  fields: (i: number) => Partial<Parameters<typeof registrationOf>[0]> = () => ({}),
): Promise<void> {
  const writer = t.app.get(RegistryWriter);
  for (let start = 0; start < count; start += 200) {
    const ids = Array.from({ length: Math.min(200, count - start) }, (_, k) => start + k);
    await Promise.all(
      ids.map((i) =>
        writer.register(
          registrationOf({
            agentId: id(i),
            agentName: `Agent ${id(i)}`,
            host: '10.0.0.1',
            port: 8080,
            ttlSeconds: 60,
            ...fields(i),
          }),
        ),
      ),
    );
  }
}

/** A card of about `kib` KiB of JSON (cards keep members they do not know). */
const bigCard = (name: string, kib: number) => ({
  ...EXAMPLE_AGENT_CARD,
  name,
  'x-padding': Array.from({ length: kib }, (_, i) => `${i} `.padEnd(1000, 'x')),
});

describe.each(onEachDatabase())('Full lists, streamed (HTTP + %s)', (dialect) => {
  describe('answers', () => {
    let t: TestApp;
    // Several chunks, and one that is not full.
    const COUNT = 617;

    beforeAll(async () => {
      t = await createTestApp({}, dialect);
      await seed(t, COUNT, (i) => ({
        capabilities: i % 2 ? ['odd'] : ['even'],
        labels: { zone: `z${i % 3}`, tier: i % 4 === 3 ? 'free' : 'gold' },
        // Every tenth agent's lease runs out when the clock moves on below.
        ttlSeconds: i % 10 === 0 ? 10 : 60,
        agentCard: i % 7 === 0 ? bigCard(id(i), 1) : null,
        metadata: i % 5 === 0 ? `{"i": ${i}, "text": "caf\u00e9 \u2603 \\u00e9"}` : null,
      }));
      t.clock.advance(30_000);
    });

    afterAll(() => t.close());

    /** Every agent of a query, page by page (`limit`, `Link`): what the streamed answer must equal. */
    async function paged(query: string): Promise<{ agents: Agent[]; revision: string }> {
      const agents: Agent[] = [];
      let url: string | undefined = `/agents?${query}${query ? '&' : ''}limit=100`;
      let revision: string | undefined;
      while (url) {
        const res: request.Response = await request(t.server).get(url).expect(200);
        revision ??= res.headers['x-registry-revision'];
        agents.push(...(res.body as Agent[]));
        url = /^<([^>]+)>; rel="next"$/.exec(res.headers.link ?? '')?.[1];
      }
      return { agents, revision: revision! };
    }

    it.each([
      ['', 555, 0],
      ['include_dead=true', COUNT, 62],
      ['capability=odd', 308, 0],
      ['label=zone:z1&include_dead=true', 206, 21],
      // Two facets: whichever drives each chunk's query, every filter holds.
      ['capability=even&label=tier:gold&include_dead=true', 309, 62],
      ['q=agent-0', 555, 0],
    ])('GET /agents?%s: the JSON text of the paged answer, sent in chunks', async (query, count, dead) => {
      const res = await request(t.server).get(`/agents?${query}`).buffer(true).expect(200);
      const { agents, revision } = await paged(query);
      expect(agents).toHaveLength(count);
      expect(count).toBeGreaterThan(2 * LIST_CHUNK);
      // Byte for byte what JSON.stringify makes of the whole array (the adapters' own serialisation, before).
      expect(res.text).toBe(JSON.stringify(agents));
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(res.headers['x-registry-revision']).toBe(revision);
      expect(res.headers['content-length']).toBeUndefined();
      expect(res.headers['transfer-encoding']).toBe('chunked');
      expect(agents.filter((a) => !a.is_alive)).toHaveLength(dead);
    });

    it('a list of one chunk or less is sent whole, with Content-Length, as before', async () => {
      const res = await request(t.server).get('/agents?label=zone:z1&capability=odd&q=agent-00').expect(200);
      const { agents } = await paged('label=zone:z1&capability=odd&q=agent-00');
      expect(agents.length).toBeGreaterThan(0);
      expect(res.text).toBe(JSON.stringify(agents));
      expect(res.headers['content-length']).toBe(String(Buffer.byteLength(res.text)));
      const none = await request(t.server).get('/agents?capability=nobody').expect(200);
      expect(none.text).toBe('[]');
      expect(none.headers['content-length']).toBe('2');
    });

    it('HEAD: the headers of GET, no body', async () => {
      const head = await request(t.server).head('/agents').expect(200);
      expect(head.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(head.headers['x-registry-revision']).toBe(String(COUNT));
      expect(head.text ?? '').toBe('');
    });

    it('bad filters are refused before the first byte, as problem+json', async () => {
      const res = await request(t.server).get('/agents?capability=a%20b').expect(400);
      expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
      await request(t.server).get('/agents?cursor=abc').expect(400);
    });

    it('fifty full lists at once wait their turn in the queue: none refused, each the whole list', async () => {
      const whole = (await request(t.server).get('/agents').expect(200)).text;
      const lists = await Promise.all(Array.from({ length: 50 }, () => request(t.server).get('/agents').buffer(true)));
      for (const res of lists) {
        expect(res.status).toBe(200);
        expect(res.text).toBe(whole);
      }
    });

    it('heartbeats succeed while full lists run; on the injected clock nothing expires meanwhile', async () => {
      const idsOf = (res: request.Response) => (res.body as Agent[]).map((a) => a.agent_id);
      const before = idsOf(await request(t.server).get('/agents').expect(200));
      const beaters = Array.from({ length: 20 }, (_, k) => id(10 * k + 1));
      const lists = Array.from({ length: 5 }, () => request(t.server).get('/agents').expect(200));
      const beats = beaters.map((agentId) => request(t.server).post(`/agents/${agentId}/heartbeat`));
      const [listed, beaten] = await Promise.all([Promise.all(lists), Promise.all(beats)]);
      expect(beaten.map((res) => res.status)).toEqual(beaters.map(() => 200));
      for (const res of listed) expect(idsOf(res)).toEqual(before);
      const now = t.clock.now().getTime();
      for (const res of beaten) expect(Date.parse((res.body as { expires_at: string }).expires_at)).toBe(now + 60_000);
    });
  });

  describe('a client that reads slowly', () => {
    let t: TestApp;
    const COUNT = 5 * LIST_CHUNK;
    let socketPath: string;

    beforeEach(async () => {
      // A Unix socket has no client address, which protected mode (no keys) takes for another host's.
      t = await createTestApp({ REGISTRY_AUTH: 'off' }, dialect);
      // About 8 KiB an agent, 0.8 MB a chunk; a Unix socket buffers ~200 KB, so backpressure comes within a chunk.
      await seed(t, COUNT, (i) => ({ agentCard: bigCard(id(i), 8) }));
      socketPath = join(t.dir, 'http.sock');
      await new Promise<void>((resolve) => t.server.listen(socketPath, resolve));
    });

    afterEach(async () => {
      t.server.closeAllConnections();
      await new Promise((resolve) => t.server.close(resolve));
      await t.close();
    });

    /** A request over the Unix socket (supertest cannot address one): its status. */
    const call = (method: string, path: string) =>
      new Promise<number | undefined>((resolve, reject) =>
        request_(method, path, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode));
        }).on('error', reject),
      );
    const request_ = (method: string, path: string, callback: (res: IncomingMessage) => void) =>
      httpRequest({ socketPath, method, path }, callback).end();

    /** Starts a full list over the Unix socket and pauses it at its headers; the server's response to it. */
    async function pausedList(): Promise<{ client: IncomingMessage; server: ServerResponse }> {
      const served = new Promise<ServerResponse>((resolve) =>
        t.server.once('request', (_req: IncomingMessage, res: ServerResponse) => resolve(res)),
      );
      const client = await new Promise<IncomingMessage>((resolve, reject) =>
        get({ socketPath, path: '/agents' }, resolve).on('error', reject),
      );
      client.pause();
      const server = await served;
      // Until the server has written more than the client and the socket take: it must then stop.
      while (!server.writableNeedDrain) await new Promise((resolve) => setTimeout(resolve, 10));
      return { client, server };
    }

    const bodyOf = (client: IncomingMessage) =>
      new Promise<string>((resolve, reject) => {
        let text = '';
        client.setEncoding('utf8');
        client.on('data', (chunk: string) => (text += chunk));
        client.on('end', () => resolve(text));
        client.on('error', reject);
        client.on('aborted', () => reject(new Error('aborted')));
        client.resume();
      });

    it('the server reads no further chunk until the client reads on; writes run meanwhile', async () => {
      const { client, server } = await pausedList();
      expect(server.statusCode).toBe(200);
      // Agents of the last chunk, removed while the client waits: a server that had read them (or built the whole
      // answer before sending it) would still list them.
      const removed = Array.from({ length: 10 }, (_, k) => id(COUNT - 1 - 3 * k));
      for (const agentId of removed) expect(await call('DELETE', `/agents/${agentId}`)).toBe(200);
      expect(await call('POST', `/agents/${id(COUNT - 2)}/heartbeat`)).toBe(200);
      const agents = JSON.parse(await bodyOf(client)) as Agent[];
      const ids = agents.map((a) => a.agent_id);
      expect(ids).toHaveLength(COUNT - removed.length);
      for (const agentId of removed) expect(ids).not.toContain(agentId);
      expect(ids).toEqual([...ids].sort());
    });

    it('a paused client makes the server read nothing ahead; later chunks are about LIST_CHUNK_BYTES', async () => {
      // The chunks after the first are read by agentsOf, outside any transaction; a page (limit=) is read otherwise.
      const reads = jest.spyOn(agentRepository, 'agentsOf');
      try {
        const { client, server } = await pausedList();
        // Two round trips of the database queue the server's reads share (SQLite's one connection; on PostgreSQL, the
        // list's turn): a read started meanwhile would have been counted.
        for (let k = 0; k < 2; k++) expect(await call('GET', '/agents?limit=1')).toBe(200);
        expect(reads).not.toHaveBeenCalled();
        // What the response holds unsent is the first chunk, not more.
        expect(server.writableLength).toBeLessThanOrEqual(LIST_CHUNK * 9 * 1024);
        const agents = JSON.parse(await bodyOf(client)) as Agent[];
        expect(agents).toHaveLength(COUNT);
        // Agents of about 8 KiB: about 30 a statement, not LIST_CHUNK.
        const perRead = Math.ceil(LIST_CHUNK_BYTES / (8 * 1024));
        for (const [, selection] of reads.mock.calls) {
          expect(selection.limit).toBeLessThan(LIST_CHUNK);
          expect(selection.limit).toBeLessThanOrEqual(perRead + 1);
        }
        expect(reads.mock.calls.length).toBeGreaterThanOrEqual(Math.ceil((COUNT - LIST_CHUNK) / perRead));
      } finally {
        reads.mockRestore();
      }
    });

    it('a read that fails after the first bytes cuts the connection: the body never ends with `]`', async () => {
      const { client } = await pausedList();
      // The next chunk's read fails: its table is gone.
      await t.orm.em.getConnection().execute('alter table agent_record rename to agent_record_gone');
      const ended = await bodyOf(client).then(
        (text) => text,
        (error: Error) => error,
      );
      expect(ended).toBeInstanceOf(Error);
      await t.orm.em.getConnection().execute('alter table agent_record_gone rename to agent_record');
    });
  });
});
