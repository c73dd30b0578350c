import request from 'supertest';
import { AGENT_CARD_MAX_BYTES, EXAMPLE_AGENT_CARD } from '../src/registry/agent-card';
import { NO_FILTER } from '../src/registry/discovery';
import { cursorScope, encodeCursor } from '../src/registry/page-cursor';
import { CleanupJob } from '../src/scheduler/cleanup.job';
import { onEachDatabase } from './support/databases';
import { agent, createTestApp, TestApp } from './support/test-app';

type Card = Record<string, unknown>;

/** A valid A2A 1.0 card; override any member. */
function card(name: string, members: Card = {}): Card {
  return { ...EXAMPLE_AGENT_CARD, name, ...members };
}

function skill(id: string, name: string, tags: string[], description = ''): Card {
  return { id, name, description, tags };
}

const BAD_QUERIES: [string, string, RegExp][] = [
  ['?label=region', 'label', /label must be key:value/],
  ['?label=bad%20key:v', 'label', /label key "bad key"/],
  ['?capability=a%20b', 'capability', /capability/],
  ['?limit=0', 'limit', /limit must be an integer between 1 and 1000/],
  ['?limit=1001', 'limit', /limit/],
  ['?limit=ten', 'limit', /limit/],
  ['?skill=a&skill=b', 'skill', /skill must be given once/],
  ['?name=', 'name', /name must be 1-256 characters/],
  ['?cursor=abc&limit=1', 'cursor', /cursor is not one this registry made/],
  ['?cursor=abc', 'cursor', /cursor is only valid with limit/],
  ['?q=a%00b', 'q', /q must not contain NUL/],
  ['?name=%00', 'name', /name must not contain NUL/],
  ['?skill=x%00', 'skill', /skill must not contain NUL/],
  [`?${Array.from({ length: 65 }, (_, i) => `capability=c${i}`).join('&')}`, 'capability', /at most 64 times/],
  [`?${Array.from({ length: 33 }, (_, i) => `label=k${i}:v`).join('&')}`, 'label', /at most 32 times/],
  // A cursor made by hand, with a valid checksum, naming something that is not an agent id.
  [
    `?limit=1&cursor=${encodeCursor('a\u0000b', cursorScope(NO_FILTER, false))}`,
    'cursor',
    /not one this registry made/,
  ],
];

describe.each(onEachDatabase())('Discovery (HTTP + %s)', (dialect) => {
  let t: TestApp;
  // Read-only groups share one app (see `sharedApp`); the others get a new one per test.
  let shared = false;

  beforeEach(async () => {
    if (!shared) t = await createTestApp({}, dialect);
  });

  afterEach(async () => {
    if (!shared) await t.close();
  });

  /** One app for the whole group, set up by `seed`: for tests that change nothing stored. */
  const sharedApp = (seed: () => Promise<void>) => {
    beforeAll(async () => {
      shared = true;
      t = await createTestApp({}, dialect);
      await seed();
    });
    afterAll(async () => {
      await t.close();
      shared = false;
    });
  };

  const register = (body: object) => request(t.server).post('/agents/register').send(body);
  const ids = async (query: string): Promise<string[]> => {
    const res = await request(t.server).get(`/agents${query}`).expect(200);
    return (res.body as { agent_id: string }[]).map((a) => a.agent_id);
  };

  describe('registration', () => {
    it('stores capabilities (duplicates removed, order kept), labels and the card, and returns them', async () => {
      const body = agent('planner', {
        capabilities: ['plan', 'travel:book', 'plan', 'a/b.c_d-e'],
        labels: { region: 'eu-west-1', 'team.name/x': '', tier: 'gold:1' },
        agent_card: card('Planner'),
      });
      const res = await register(body).expect(200);
      expect(res.body).toMatchObject({
        capabilities: ['plan', 'travel:book', 'a/b.c_d-e'],
        labels: { region: 'eu-west-1', 'team.name/x': '', tier: 'gold:1' },
        agent_card: card('Planner'),
      });
      await request(t.server).get('/agents/planner').expect(200, res.body);
      expect((await request(t.server).get('/agents').expect(200)).body).toEqual([res.body]);
    });

    it('accepts an A2A 0.3 card (a top-level url) and keeps members it does not know', async () => {
      const v03 = {
        name: 'Old',
        description: 'An A2A 0.3 agent',
        version: '0.3.0',
        url: 'http://10.0.0.1:8080/',
        preferredTransport: 'JSONRPC',
        protocolVersion: '0.3.0',
        skills: [skill('s', 'S', [])],
        'x-vendor': { nested: [1, 2, { deep: true }] },
      };
      const res = await register(agent('old', { agent_card: v03 })).expect(200);
      expect(res.body.agent_card).toEqual(v03);
    });

    it("keeps label keys and card members named like Object's own (constructor, toString...), and finds by them", async () => {
      const labels = { constructor: 'c', toString: 't', valueOf: 'v', hasOwnProperty: 'h', prototype: 'p' };
      const odd = card('Odd', {
        constructor: { name: 'kept' },
        toString: 'kept',
        prototype: [1],
        skills: [{ ...skill('s', 'S', ['t']), valueOf: 1, constructor: 'kept' }],
      });
      const res = await register(agent('odd', { labels, agent_card: odd })).expect(200);
      expect(res.body).toMatchObject({ labels, agent_card: odd });
      expect((await request(t.server).get('/agents/odd/card').expect(200)).body).toEqual(odd);
      expect(await ids('?label=constructor:c&label=toString:t&label=prototype:p')).toEqual(['odd']);
      expect(await ids('?label=valueOf:x')).toEqual([]);
    });

    it('accepts a card nested to the limit (64 levels, counting the body) and keeps it as sent', async () => {
      // body (1) > agent_card (2) > deep (3) > 61 more arrays: 64 levels.
      const deep = JSON.parse('['.repeat(62) + ']'.repeat(62)) as unknown;
      const res = await register(agent('deep', { agent_card: card('Deep', { deep }) })).expect(200);
      expect(res.body.agent_card.deep).toEqual(deep);
    });

    it('null or absent capabilities, labels and card mean none; re-registration without them clears them', async () => {
      await register(agent('a', { capabilities: ['x'], labels: { k: 'v' }, agent_card: card('A') })).expect(200);
      const res = await register(agent('a', { capabilities: null, labels: null, agent_card: null })).expect(200);
      expect(res.body).toMatchObject({ capabilities: [], labels: {}, agent_card: null });
      expect(await ids('?capability=x')).toEqual([]);
      expect(await ids('?label=k:v')).toEqual([]);
      expect(await ids('?skill=plan-trip')).toEqual([]);
    });

    it('accepts a card of exactly the size limit, with the rest of the body', async () => {
      const padding = AGENT_CARD_MAX_BYTES - Buffer.byteLength(JSON.stringify(card('Big', { pad: '' })));
      const big = card('Big', { pad: 'p'.repeat(padding) });
      expect(Buffer.byteLength(JSON.stringify(big))).toBe(AGENT_CARD_MAX_BYTES);
      const res = await register(agent('big', { agent_card: big, metadata: 'm'.repeat(4000) })).expect(200);
      expect(res.body.agent_card).toEqual(big);
    });
  });

  describe('bad capabilities, labels and cards: 400 naming the bad member, nothing stored', () => {
    sharedApp(async () => {
      await register(agent('keeper', { capabilities: ['keep'], labels: { k: 'v' }, agent_card: card('K') })).expect(
        200,
      );
    });

    afterEach(async () => {
      const res = await request(t.server).get('/agents?include_dead=true').expect(200);
      expect(res.body).toEqual([expect.objectContaining({ agent_id: 'keeper', capabilities: ['keep'] })]);
      expect(await ids('?capability=keep&label=k:v&skill=plan-trip')).toEqual(['keeper']);
    });

    it.each([
      [
        'capabilities not an array',
        { capabilities: 'plan' },
        'capabilities',
        /capabilities must be an array of strings/,
      ],
      ['a capability not a string', { capabilities: ['ok', 1] }, 'capabilities', /capabilities\[1\] must be a string/],
      ['an empty capability', { capabilities: [''] }, 'capabilities', /capabilities\[0\]: .*1-64 characters/],
      ['a capability with a space', { capabilities: ['a b'] }, 'capabilities', /letters, digits/],
      ['a capability starting with -', { capabilities: ['-a'] }, 'capabilities', /starting with a letter or digit/],
      ['a capability of 65 characters', { capabilities: ['c'.repeat(65)] }, 'capabilities', /1-64 characters/],
      [
        '65 capabilities',
        { capabilities: Array.from({ length: 65 }, (_, i) => `c${i}`) },
        'capabilities',
        /at most 64/,
      ],
      ['labels an array', { labels: ['a'] }, 'labels', /labels must be an object/],
      ['a label key with a space', { labels: { 'a b': 'v' } }, 'labels', /label key "a b" must be 1-63 characters/],
      ['a label key of 64 characters', { labels: { ['k'.repeat(64)]: 'v' } }, 'labels', /must be 1-63 characters/],
      ['a label value not a string', { labels: { k: 1 } }, 'labels', /labels\.k must be a string/],
      ['a label value of 257 characters', { labels: { k: 'v'.repeat(257) } }, 'labels', /at most 256/],
      ['a label value with NUL', { labels: { k: 'a\u0000' } }, 'labels', /NUL/],
      [
        '33 labels',
        { labels: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v'])) },
        'labels',
        /at most 32/,
      ],
      ['a card that is a string', { agent_card: 'card' }, 'agent_card', /agent_card must be a JSON object/],
      ['a card without a name', { agent_card: card('x', { name: undefined }) }, 'agent_card', /agent_card\.name/],
      [
        'a card without supportedInterfaces or url',
        { agent_card: card('x', { supportedInterfaces: undefined }) },
        'agent_card',
        /supportedInterfaces \(A2A 1\.0\) or url \(A2A 0\.3\)/,
      ],
      [
        'a skill whose tags are not an array',
        { agent_card: card('x', { skills: [skill('s', 'S', []), { id: 's2', name: 'S2', description: '' }] }) },
        'agent_card',
        /agent_card\.skills\[1\]\.tags must be an array of strings/,
      ],
      [
        'a card over 64 KiB',
        { agent_card: card('x', { pad: 'p'.repeat(AGENT_CARD_MAX_BYTES) }) },
        'agent_card',
        /exceeds 65536 bytes/,
      ],
    ])('%s', async (_, fields, field, detail) => {
      const res = await register(agent('keeper', fields));
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body.detail).toMatch(detail);
      expect(res.body.errors).toEqual([
        expect.objectContaining({ field, in: 'body', detail: expect.stringMatching(detail) }),
      ]);
    });
  });

  describe('GET /agents/{agent_id}/card', () => {
    it('serves the card with an ETag and Cache-Control, and 304 for a matching If-None-Match', async () => {
      await register(agent('a', { agent_card: card('A') })).expect(200);
      const res = await request(t.server).get('/agents/a/card').expect(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.body).toEqual(card('A'));
      const etag = res.headers.etag;
      expect(etag).toMatch(/^"[\w-]+"$/);

      for (const header of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
        const cached = await request(t.server).get('/agents/a/card').set('If-None-Match', header).expect(304);
        expect(cached.text ?? '').toBe('');
        expect(cached.headers.etag).toBe(etag);
      }
      await request(t.server).get('/agents/a/card').set('If-None-Match', '"other"').expect(200);

      // The same card again keeps the ETag; a changed card gets a new one, and the old tag no longer matches.
      await register(agent('a', { agent_card: card('A'), port: 9 })).expect(200);
      expect((await request(t.server).get('/agents/a/card').expect(200)).headers.etag).toBe(etag);
      await register(agent('a', { agent_card: card('A2') })).expect(200);
      const changed = await request(t.server).get('/agents/a/card').set('If-None-Match', etag).expect(200);
      expect(changed.body.name).toBe('A2');
      expect(changed.headers.etag).not.toBe(etag);
    });

    it('404 when the agent has no card, or is not registered', async () => {
      await register(agent('plain')).expect(200);
      const none = await request(t.server).get('/agents/plain/card').expect(404);
      expect(none.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(none.body.detail).toBe('Agent plain has no agent card');
      const unknown = await request(t.server).get('/agents/ghost/card').expect(404);
      expect(unknown.body.detail).toBe('Agent not found: ghost');
      await request(t.server).get('/agents/bad%20id/card').expect(400);
    });
  });

  /** Three agents the filter tests look for. */
  const registerThree = async () => {
    await register(
      agent('planner', {
        agent_name: 'Trip Planner',
        capabilities: ['plan', 'travel'],
        labels: { region: 'eu', tier: 'gold' },
        agent_card: card('Planner', {
          description: 'Builds ITINERARIES for families',
          skills: [skill('plan-trip', 'Plan a trip', ['travel', 'Family'])],
        }),
      }),
    ).expect(200);
    await register(
      agent('booker', {
        agent_name: 'Booker',
        capabilities: ['book', 'travel'],
        labels: { region: 'us', tier: 'gold' },
        agent_card: card('Booker', {
          description: 'Books hotels',
          skills: [skill('book-hotel', 'Book', ['hotel'], 'Reserves ROOMS near the venue.')],
        }),
      }),
    ).expect(200);
    await register(agent('plain', { agent_name: 'Plain Älvsjö agent', labels: { region: 'eu' } })).expect(200);
  };

  describe('GET /agents filters', () => {
    sharedApp(registerThree);

    it.each([
      ['', ['booker', 'plain', 'planner']],
      ['?capability=travel', ['booker', 'planner']],
      ['?capability=travel&capability=plan', ['planner']],
      ['?capability=plan&capability=book', []],
      ['?capability=Travel', []],
      ['?label=region:eu', ['plain', 'planner']],
      ['?label=region:eu&label=tier:gold', ['planner']],
      ['?label=tier:gold&capability=book', ['booker']],
      ['?label=region:', []],
      ['?skill=plan-trip', ['planner']],
      ['?skill=hotel', ['booker']],
      ['?skill=Family', ['planner']],
      ['?skill=family', []],
      ['?name=PLAN', ['planner']],
      ['?name=plain%20%C3%84LVSJ%C3%96', ['plain']],
      ['?name=älvsjö', ['plain']],
      ['?name=trip%20p', ['planner']],
      ['?q=itinerar', ['planner']],
      ['?q=HOTEL', ['booker']],
      ['?q=plan%20a%20trip', ['planner']],
      ['?q=family', ['planner']],
      ['?q=booker', ['booker']],
      // A skill's description, in any case: words in no name, description or tag.
      ['?q=rooms%20near', ['booker']],
      ['?q=VENUE', ['booker']],
      ['?q=travel&capability=book', []],
      ['?q=%25', []],
      ['?name=_', []],
    ])('%s → %j', async (query, expected) => {
      expect(await ids(query)).toEqual(expected);
    });

    it.each(BAD_QUERIES)('%s: 400 naming %s', async (query, field, detail) => {
      const res = await request(t.server).get(`/agents${query}`);
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body.errors).toEqual([
        expect.objectContaining({ field, in: 'query', detail: expect.stringMatching(detail) }),
      ]);
    });
  });

  describe('GET /agents filters, as agents change', () => {
    beforeEach(registerThree);

    it('hides agents whose lease ran out unless include_dead=true', async () => {
      t.clock.advance(61_000);
      expect(await ids('?capability=travel')).toEqual([]);
      expect(await ids('?capability=travel&include_dead=true')).toEqual(['booker', 'planner']);
    });

    it('a re-registration that changes capabilities, labels or skills moves the agent between filters', async () => {
      await register(
        agent('planner', { capabilities: ['book'], labels: { region: 'us' }, agent_card: card('P') }),
      ).expect(200);
      expect(await ids('?capability=plan')).toEqual([]);
      expect(await ids('?capability=book')).toEqual(['booker', 'planner']);
      expect(await ids('?label=region:us')).toEqual(['booker', 'planner']);
      expect(await ids('?skill=Family')).toEqual([]);
      expect(await ids('?skill=plan-trip')).toEqual(['planner']);
    });

    it('a deregistered agent leaves every filter', async () => {
      await request(t.server).delete('/agents/planner').expect(200);
      expect(await ids('?capability=plan')).toEqual([]);
      expect(await ids('?label=tier:gold')).toEqual(['booker']);
      expect(await ids('?skill=Family')).toEqual([]);
      expect(await ids('?q=itinerar')).toEqual([]);
      await register(agent('planner')).expect(200);
      expect(await ids('?capability=travel')).toEqual(['booker']);
      expect(await ids('?name=trip')).toEqual([]);
    });

    it('name= and q= follow a re-registration, a removal by cleanup, and a new agent in the place of the removed one', async () => {
      await register(agent('planner', { agent_name: 'Zebra Router' })).expect(200);
      expect(await ids('?name=zebra')).toEqual(['planner']);
      expect(await ids('?q=router')).toEqual(['planner']);
      expect(await ids('?name=trip')).toEqual([]);
      expect(await ids('?q=itinerar')).toEqual([]);
      // A heartbeat changes no searchable text.
      await request(t.server).post('/agents/planner/heartbeat').expect(200);
      expect(await ids('?name=zebra')).toEqual(['planner']);

      t.clock.advance(61_000);
      expect((await t.app.get(CleanupJob).run())?.sort()).toEqual(['booker', 'plain', 'planner']);
      expect(await ids('?name=zebra&include_dead=true')).toEqual([]);
      // The newest agent removed, then one registered: SQLite may hand the new row the removed one's rowid.
      await register(agent('walrus', { agent_name: 'Walrus Router' })).expect(200);
      expect(await ids('?q=router')).toEqual(['walrus']);
      expect(await ids('?name=walrus&q=rus%20rou')).toEqual(['walrus']);
    });

    it('several facets: whichever one drives the query, every filter holds', async () => {
      for (let i = 0; i < 20; i++) {
        await register(
          agent(`worker-${String(i).padStart(2, '0')}`, {
            agent_name: i % 5 ? 'Worker' : 'Special Worker',
            capabilities: ['work', ...(i % 7 ? [] : ['rare'])],
            labels: { zone: `z${i % 2}` },
          }),
        ).expect(200);
      }
      // Listed with the common filter first and last: the rarest drives either way.
      expect(await ids('?capability=work&capability=rare')).toEqual(['worker-00', 'worker-07', 'worker-14']);
      expect(await ids('?capability=rare&capability=work&label=zone:z0')).toEqual(['worker-00', 'worker-14']);
      expect(await ids('?label=zone:z1&capability=rare')).toEqual(['worker-07']);
      expect(await ids('?capability=work&name=special')).toEqual(['worker-00', 'worker-05', 'worker-10', 'worker-15']);
      expect(await ids('?label=zone:z0&q=special%20w')).toEqual(['worker-00', 'worker-10']);
      expect(await ids('?capability=rare&name=special&label=zone:z1')).toEqual([]);
    });
  });

  describe('paging', () => {
    const page = (url: string) => request(t.server).get(url).expect(200);
    const nextOf = (res: request.Response): string | undefined =>
      /^<([^>]+)>; rel="next"$/.exec(res.headers.link ?? '')?.[1];

    it('pages through the match in agent_id order, each page an array, the next one in the Link header', async () => {
      for (let i = 0; i < 25; i++) {
        await register(agent(`agent-${String(i).padStart(2, '0')}`, { capabilities: i % 2 ? ['odd'] : [] })).expect(
          200,
        );
      }
      const seen: string[] = [];
      let url: string | undefined = '/agents?capability=odd&limit=5';
      let pages = 0;
      while (url) {
        const res = await page(url);
        expect(Array.isArray(res.body)).toBe(true);
        seen.push(...(res.body as { agent_id: string }[]).map((a) => a.agent_id));
        url = nextOf(res);
        pages++;
      }
      const odd = Array.from({ length: 12 }, (_, i) => `agent-${String(2 * i + 1).padStart(2, '0')}`);
      expect(seen).toEqual(odd);
      expect(pages).toBe(3);
      // An exact fit has no next page.
      expect(nextOf(await page('/agents?capability=odd&limit=12'))).toBeUndefined();
    });

    it('pages neither skip nor repeat agents while other agents come and go', async () => {
      for (const id of ['b', 'd', 'f', 'h', 'j']) await register(agent(id)).expect(200);
      const first = await page('/agents?limit=2');
      expect(first.body.map((a: { agent_id: string }) => a.agent_id)).toEqual(['b', 'd']);
      // Behind the cursor, ahead of it, and a removal ahead of it.
      await register(agent('a')).expect(200);
      await register(agent('c')).expect(200);
      await register(agent('g')).expect(200);
      await request(t.server).delete('/agents/h').expect(200);
      const seen = first.body.map((a: { agent_id: string }) => a.agent_id);
      let url = nextOf(first);
      while (url) {
        const res = await page(url);
        seen.push(...res.body.map((a: { agent_id: string }) => a.agent_id));
        url = nextOf(res);
      }
      expect(seen).toEqual(['b', 'd', 'f', 'g', 'j']);
    });

    it('pages through a name= or q= match, and through several facets, in agent_id order', async () => {
      for (let i = 0; i < 12; i++) {
        await register(
          agent(`agent-${String(i).padStart(2, '0')}`, {
            agent_name: i % 3 ? 'Plain' : 'Searcher',
            capabilities: ['all', ...(i % 2 ? ['odd'] : [])],
          }),
        ).expect(200);
      }
      const walk = async (query: string): Promise<string[]> => {
        const seen: string[] = [];
        let url: string | undefined = `/agents?${query}&limit=2`;
        while (url) {
          const res = await page(url);
          seen.push(...(res.body as { agent_id: string }[]).map((a) => a.agent_id));
          url = nextOf(res);
        }
        return seen;
      };
      expect(await walk('name=searcher')).toEqual(['agent-00', 'agent-03', 'agent-06', 'agent-09']);
      expect(await walk('q=searcher&capability=odd')).toEqual(['agent-03', 'agent-09']);
      expect(await walk('capability=all&capability=odd')).toEqual(
        ['01', '03', '05', '07', '09', '11'].map((n) => `agent-${n}`),
      );
    });

    it('a cursor belongs to its filters: used with others, or edited, it is refused', async () => {
      for (const id of ['a', 'b', 'c']) await register(agent(id, { capabilities: ['x'] })).expect(200);
      const next = nextOf(await page('/agents?capability=x&limit=1'))!;
      const cursor = new URL(next, 'http://x').searchParams.get('cursor')!;
      await request(t.server).get(`/agents?capability=x&limit=1&cursor=${cursor}`).expect(200);
      for (const query of [
        `limit=1&cursor=${cursor}`,
        `capability=x&include_dead=true&limit=1&cursor=${cursor}`,
        `capability=x&limit=1&cursor=${cursor.slice(0, -2)}`,
        `capability=x&limit=1&cursor=${Buffer.from('["v1","b","0000000000000000"]').toString('base64url')}`,
      ]) {
        const res = await request(t.server).get(`/agents?${query}`);
        expect(res.status).toBe(400);
        expect(res.body.errors).toEqual([expect.objectContaining({ field: 'cursor', in: 'query' })]);
      }
    });

    it('X-Registry-Revision counts the changes: registrations that change something, and deregistrations', async () => {
      const revision = async () => Number((await page('/agents')).headers['x-registry-revision']);
      expect(await revision()).toBe(0);
      await register(agent('a')).expect(200);
      expect(await revision()).toBe(1);
      await register(agent('a')).expect(200); // unchanged: a lease renewal, not a change
      await request(t.server).post('/agents/a/heartbeat').expect(200);
      expect(await revision()).toBe(1);
      await register(agent('a', { port: 1 })).expect(200);
      await request(t.server).delete('/agents/a').expect(200);
      expect(await revision()).toBe(3);
      expect((await page('/agents?limit=1')).headers['x-registry-revision']).toBe('3');
    });
  });
});
