import request from 'supertest';
import { ChangeFeed } from '../src/events/change-feed';
import { CleanupJob } from '../src/scheduler/cleanup.job';
import { onEachDatabase } from './support/databases';
import { EventStream, openEventStream } from './support/event-stream';
import { agent, createTestApp, TestApp } from './support/test-app';

async function waitUntil(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.each(onEachDatabase())('Watch: GET /events (HTTP + %s)', (dialect) => {
  let t: TestApp;
  const streams: EventStream[] = [];

  beforeEach(async () => {
    t = await createTestApp({ EVENTS_POLL_MS: '50' }, dialect);
  });

  afterEach(async () => {
    for (const stream of streams.splice(0)) stream.close();
    await t.close();
  });

  const register = (body: object) => request(t.server).post('/agents/register').send(body).expect(200);
  const watch = async (path = '/events', headers: Record<string, string> = {}) => {
    const stream = await openEventStream(t.server, path, headers);
    streams.push(stream);
    return stream;
  };
  const revisionOf = async (query = '') =>
    Number((await request(t.server).get(`/agents${query}`).expect(200)).headers['x-registry-revision']);

  it('lists, then watches from the list revision: every change once, in order, heartbeats and no-op updates left out', async () => {
    await register(agent('before'));
    const since = await revisionOf();
    expect(since).toBe(1);
    const stream = await watch(`/events?since=${since}`);
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(stream.headers['cache-control']).toBe('no-cache');
    expect(stream.headers['x-registry-revision']).toBe('1');

    await register(agent('a', { capabilities: ['x'] }));
    await register(agent('a', { capabilities: ['x'] })); // unchanged: no event
    await request(t.server).post('/agents/a/heartbeat').expect(200);
    await register(agent('a', { capabilities: ['x', 'y'] }));
    await request(t.server).delete('/agents/a').expect(200);
    t.clock.advance(61_000);
    await t.app.get(CleanupJob).run(); // 'before' expires

    const events = await stream.waitForEvents(4);
    expect(events.map((e) => [e.id, e.event, e.data.agent_id, e.data.matches])).toEqual([
      ['2', 'registered', 'a', true],
      ['3', 'updated', 'a', true],
      ['4', 'deregistered', 'a', false],
      ['5', 'expired', 'before', false],
    ]);
    for (const event of events) {
      expect(event.data.revision).toBe(Number(event.id));
      expect(event.data.type).toBe(event.event);
      expect(event.data.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
    expect(events[1].data.agent).toMatchObject({ agent_id: 'a', capabilities: ['x', 'y'], is_alive: true });
    expect(events[2].data).not.toHaveProperty('agent');
    expect(events[3].data).not.toHaveProperty('agent');
    expect(await revisionOf()).toBe(5);
  });

  it("HEAD answers the stream's headers and ends at once (it used to hold the connection open)", async () => {
    await register(agent('a'));
    const res = await request(t.server).head('/events').timeout(5000).expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(res.headers['x-registry-revision']).toBe('1');
  });

  it('without since, starts at the current revision', async () => {
    await register(agent('old'));
    const stream = await watch();
    await register(agent('new'));
    expect((await stream.waitForEvents(1)).map((e) => e.data.agent_id)).toEqual(['new']);
  });

  it('resumes after Last-Event-ID (which wins over since), or since, with nothing skipped or repeated', async () => {
    for (const id of ['a', 'b', 'c', 'd']) await register(agent(id));
    const fromTwo = await watch('/events?since=0', { 'Last-Event-ID': '2' });
    expect((await fromTwo.waitForEvents(2)).map((e) => e.id)).toEqual(['3', '4']);
    const fromOne = await watch('/events?since=1');
    // The first line names where the stream starts, not the registry's head.
    expect(await fromOne.waitForComment(/^watching from revision 1; the registry is at revision 4\b/)).toBeDefined();
    expect((await fromOne.waitForEvents(3)).map((e) => e.id)).toEqual(['2', '3', '4']);
    await register(agent('e'));
    expect((await fromTwo.waitForEvents(3)).map((e) => e.id)).toEqual(['3', '4', '5']);
    expect((await fromOne.waitForEvents(4)).map((e) => e.id)).toEqual(['2', '3', '4', '5']);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(fromTwo.events).toHaveLength(3);
  });

  it('catches up from the log when the events are no longer in memory (a restarted replica)', async () => {
    for (let i = 0; i < 30; i++) await register(agent(`agent-${i}`));
    // As after a restart: the feed holds nothing, so the events come from the database.
    t.app.get<ChangeFeed, { recent: unknown[] }>(ChangeFeed).recent = [];
    const stream = await watch('/events?since=0');
    const events = await stream.waitForEvents(30);
    expect(events.map((e) => Number(e.id))).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    await register(agent('live'));
    expect((await stream.waitForEvents(31))[30].data.agent_id).toBe('live');
  });

  it('with filters: an agent is seen while it matches, and once more when it stops matching', async () => {
    const stream = await watch('/events?since=0&capability=x&label=env:prod');
    await register(agent('other', { capabilities: ['x'] })); // no label: never matches
    await register(agent('a', { capabilities: ['x'], labels: { env: 'prod' } }));
    await register(agent('a', { capabilities: ['x'], labels: { env: 'prod' }, port: 9 }));
    await register(agent('a', { capabilities: ['y'], labels: { env: 'prod' } })); // leaves the filter
    await register(agent('a', { capabilities: ['y'], labels: { env: 'prod' }, port: 10 })); // still out: not sent
    await register(agent('b', { capabilities: ['x'], labels: { env: 'prod' } }));
    await request(t.server).delete('/agents/b').expect(200);
    await request(t.server).delete('/agents/other').expect(200); // never matched: not sent

    const events = await stream.waitForEvents(5);
    expect(events.map((e) => [e.event, e.data.agent_id, e.data.matches])).toEqual([
      ['registered', 'a', true],
      ['updated', 'a', true],
      ['updated', 'a', false],
      ['registered', 'b', true],
      ['deregistered', 'b', false],
    ]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(stream.events).toHaveLength(5);
  });

  it('skill, name and q filter events as they filter lists', async () => {
    const card = {
      name: 'C',
      description: 'Finds FLIGHTS',
      version: '1',
      url: 'http://x/',
      skills: [{ id: 'fly', name: 'Fly', description: 'Books a window seat.', tags: ['air'] }],
    };
    const bySkill = await watch('/events?since=0&skill=air');
    const byName = await watch('/events?since=0&name=PILOT');
    const byQ = await watch('/events?since=0&q=flights');
    const bySkillDescription = await watch('/events?since=0&q=window%20SEAT');
    await register(agent('plain'));
    await register(agent('carded', { agent_name: 'Pilot one', agent_card: card }));
    for (const stream of [bySkill, byName, byQ, bySkillDescription]) {
      expect((await stream.waitForEvents(1)).map((e) => e.data.agent_id)).toEqual(['carded']);
    }
  });

  it('410 Gone, as problem details, for a revision older than EVENTS_RETENTION or ahead of the registry', async () => {
    await t.close();
    t = await createTestApp({ EVENTS_RETENTION: '10s', EVENTS_POLL_MS: '50' }, dialect);
    for (const id of ['a', 'b', 'c']) await register(agent(id, { ttl_seconds: 3600 }));
    t.clock.advance(11_000);
    await register(agent('d', { ttl_seconds: 3600 }));
    await t.app.get(CleanupJob).run(); // prunes revisions 1-3, keeps 4

    const gone = await watch('/events?since=2');
    expect(gone.status).toBe(410);
    expect(gone.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(gone.body?.detail).toMatch(/^Events after revision 2 are no longer kept .* list the agents again/);
    expect((await watch('/events', { 'Last-Event-ID': '0' })).status).toBe(410);
    const ahead = await watch('/events?since=99');
    expect(ahead.status).toBe(410);
    expect(ahead.body?.detail).toMatch(/^Revision 99 is ahead of this registry's \(4\)/);

    const kept = await watch('/events?since=3');
    expect(kept.status).toBe(200);
    expect((await kept.waitForEvents(1)).map((e) => e.data.agent_id)).toEqual(['d']);
    // The list is the way back in: it says where to watch from.
    const since = await revisionOf();
    expect((await watch(`/events?since=${since}`)).status).toBe(200);
  });

  it.each([
    ['?since=-1', {}, 'since'],
    ['?since=abc', {}, 'since'],
    ['?label=nocolon', {}, 'label'],
    ['', { 'Last-Event-ID': 'x1' }, 'Last-Event-ID'],
  ])('%s %j: 400 naming %s', async (query, headers, field) => {
    const stream = await watch(`/events${query}`, headers);
    expect(stream.status).toBe(400);
    expect(stream.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(stream.body?.errors).toEqual([expect.objectContaining({ field })]);
  });

  it('sends a comment line every EVENTS_KEEPALIVE_SECONDS', async () => {
    await t.close();
    t = await createTestApp({ EVENTS_KEEPALIVE_SECONDS: '1' }, dialect);
    const stream = await watch();
    expect(await stream.waitForComment(/^watching from revision 0$/)).toBeDefined();
    await stream.waitForComment(/^keepalive$/, 3000);
  });

  it('disconnects a client that falls EVENTS_CLIENT_BUFFER behind, without holding up the others', async () => {
    const slow = await watch('/events?since=0');
    slow.pause();
    const fast = await watch('/events?since=0');
    const card = { name: 'Big', description: 'd'.repeat(60_000), version: '1', url: 'http://x/', skills: [] };
    // About 9 MB of events: more than the sockets between the two hold (4 MB to send, 128 KB to receive, unread)
    // and the default EVENTS_CLIENT_BUFFER of 1 MB.
    const count = 150;
    for (let i = 0; i < count; i++) await register(agent(`big-${i}`, { agent_card: card }));
    expect(await fast.waitForEvents(count, 20_000)).toHaveLength(count);
    await waitUntil(() => t.app.get(ChangeFeed).watcherCount === 1);
    // The fast one is still being served; the slow one was cut off, and resumes from its Last-Event-ID.
    await register(agent('after'));
    expect((await fast.waitForEvents(count + 1))[count].data.agent_id).toBe('after');
    slow.resume();
    await slow.ended;
    expect(slow.events.length).toBeLessThan(count);
    const resumed = await watch('/events', { 'Last-Event-ID': slow.events.at(-1)?.id ?? '0' });
    const rest = await resumed.waitForEvents(count + 1 - slow.events.length, 20_000);
    expect([...slow.events, ...rest].map((e) => Number(e.id))).toEqual(
      Array.from({ length: count + 1 }, (_, i) => i + 1),
    );
  }, 60_000);

  it('shutdown ends the streams, so the server can close', async () => {
    const stream = await watch();
    const closing = t.close();
    await stream.ended;
    await closing;
    t = await createTestApp({}, dialect); // for afterEach
  });
});
