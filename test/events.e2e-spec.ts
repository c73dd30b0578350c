import request from 'supertest';
import { ChangeFeed } from '../src/events/change-feed';
import { CleanupJob } from '../src/scheduler/cleanup.job';
import { onEachDatabase } from './support/databases';
import { EventStream, openEventStream, POSITION, revisionIn } from './support/event-stream';
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
    expect(events.map((e) => [revisionIn(e.id), e.event, e.data.agent_id, e.data.matches])).toEqual([
      ['2', 'registered', 'a', true],
      ['3', 'updated', 'a', true],
      ['4', 'deregistered', 'a', false],
      ['5', 'expired', 'before', false],
    ]);
    for (const event of events) {
      expect(event.data.revision).toBe(Number(revisionIn(event.id)));
      expect(event.data.type).toBe(event.event);
      expect(event.data.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
    // Each id is a position: the revision and the fingerprint of its event, which the list's position repeats.
    for (const event of events) expect(event.id).toMatch(POSITION);
    expect((await request(t.server).get('/agents').expect(200)).headers['x-registry-position']).toBe(events[3].id);
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
    expect((await fromTwo.waitForEvents(2)).map((e) => revisionIn(e.id))).toEqual(['3', '4']);
    const fromOne = await watch('/events?since=1');
    // The first line names where the stream starts, not the registry's head.
    expect(await fromOne.waitForComment(/^watching from revision 1; the registry is at revision 4\b/)).toBeDefined();
    expect((await fromOne.waitForEvents(3)).map((e) => revisionIn(e.id))).toEqual(['2', '3', '4']);
    await register(agent('e'));
    expect((await fromTwo.waitForEvents(3)).map((e) => revisionIn(e.id))).toEqual(['3', '4', '5']);
    expect((await fromOne.waitForEvents(4)).map((e) => revisionIn(e.id))).toEqual(['2', '3', '4', '5']);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(fromTwo.events).toHaveLength(3);
  });

  it('catches up from the log when the events are no longer in memory (a restarted replica)', async () => {
    for (let i = 0; i < 30; i++) await register(agent(`agent-${i}`));
    // As after a restart: the feed holds nothing, so the events come from the database.
    t.app.get<ChangeFeed, { recent: unknown[] }>(ChangeFeed).recent = [];
    const stream = await watch('/events?since=0');
    const events = await stream.waitForEvents(30);
    expect(events.map((e) => Number(revisionIn(e.id)))).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
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

  it('a log replaced by another history (a restore, a failover to a replica that lagged) is a 410 from a position of the old one, never its events', async () => {
    const long = { ttl_seconds: 3600 };
    for (const id of ['a', 'b', 'c']) await register(agent(id, long)); // revisions 1-3
    const listed = await request(t.server).get('/agents').expect(200);
    const position = listed.headers['x-registry-position'];
    expect(position).toMatch(POSITION);
    expect(revisionIn(position)).toBe('3');
    const live = await watch('/events?since=0');
    const old = await live.waitForEvents(3);
    expect(old.at(-1)?.id).toBe(position);
    expect(live.headers['x-registry-position']).toBe(position);

    // The database is restored from a backup taken at revision 1 (its agents as they were then), and new changes
    // are made: revisions 2-4 again, other events.
    const sql = (statement: string) => t.orm.em.getConnection().execute(statement, [], 'run');
    await sql('delete from agent_event where revision > 1');
    await sql('update registry_revision set revision = 1 where id = 1');
    await sql("delete from agent_record where agent_id in ('b', 'c')");
    for (const id of ['d', 'e', 'f']) await register(agent(id, long));
    expect(await revisionOf()).toBe(4);

    // The live watcher is ended, never handed the new history's events; resuming from its position is a 410.
    await Promise.race([live.ended, live.waitForEvents(4).catch(() => undefined)]);
    expect(live.events.map((e) => e.data.agent_id)).toEqual(['a', 'b', 'c']);
    await live.ended;
    const resumed = await watch('/events', { 'Last-Event-ID': live.lastEventId });
    expect(resumed.status).toBe(410);
    expect(resumed.body?.detail).toMatch(/^The event log was replaced .* list the agents again/);
    const fromList = await watch(`/events?since=${position}`);
    expect(fromList.status).toBe(410);
    expect(fromList.body?.detail).toMatch(/^The event log was replaced/);

    // A position of an event both histories share resumes correctly: the new history's events after it.
    const shared = await watch(`/events?since=${old[0].id}`);
    expect(shared.status).toBe(200);
    expect((await shared.waitForEvents(3)).map((e) => e.data.agent_id)).toEqual(['d', 'e', 'f']);
    // A plain revision (a client from before positions) is not checked: it resumes after revision 3 of whatever
    // history the log holds now.
    const plain = await watch('/events?since=3');
    expect(plain.status).toBe(200);
    expect((await plain.waitForEvents(1)).map((e) => e.data.agent_id)).toEqual(['f']);
    // The list is the way back: its position is the new history's.
    const again = (await request(t.server).get('/agents').expect(200)).headers['x-registry-position'];
    expect(revisionIn(again)).toBe('4');
    const fresh = await watch(`/events?since=${again}`);
    expect(fresh.status).toBe(200);
    await register(agent('g', long));
    expect((await fresh.waitForEvents(1)).map((e) => [revisionIn(e.id), e.data.agent_id])).toEqual([['5', 'g']]);
  });

  it('pruning keeps the event at the pruned revision, so a position there is checked and resumes; revision 0 is a position of every history', async () => {
    await t.close();
    t = await createTestApp({ EVENTS_RETENTION: '10s', EVENTS_POLL_MS: '50' }, dialect);
    expect((await request(t.server).get('/agents').expect(200)).headers['x-registry-position']).toBe('0');
    await register(agent('a', { ttl_seconds: 3600 })); // 1
    await register(agent('b', { ttl_seconds: 3600 })); // 2
    const [first, second] = await (await watch('/events?since=0')).waitForEvents(2);
    t.clock.advance(11_000);
    await register(agent('c', { ttl_seconds: 3600 })); // 3
    expect(await t.app.get(ChangeFeed).pruneOldEvents(t.clock.now().getTime())).toBe(1); // through 2; 2 is kept
    const kept = await watch(`/events?since=${second.id}`);
    expect(kept.status).toBe(200);
    expect((await kept.waitForEvents(1)).map((e) => e.data.agent_id)).toEqual(['c']);
    const gone = await watch(`/events?since=${first.id}`);
    expect(gone.status).toBe(410);
    expect(gone.body?.detail).toMatch(/^Events after revision 1 are no longer kept/);
    expect((await watch('/events?since=0')).status).toBe(410);
  });

  it('a live watcher whose replica stopped reading the log past EVENTS_RETENTION is ended, never handed the events after the gap', async () => {
    await t.close();
    t = await createTestApp({ EVENTS_RETENTION: '10s', EVENTS_POLL_MS: '50' }, dialect);
    const long = { ttl_seconds: 3600 };
    await register(agent('a', long)); // revision 1
    const behind = await watch('/events?since=1');
    await register(agent('b', long));
    expect((await behind.waitForEvents(1)).map((e) => revisionIn(e.id))).toEqual(['2']);

    // The replica stops reading the log, as while its database reads fail and other replicas write and prune.
    const feed = t.app.get(ChangeFeed);
    const stopped = jest.spyOn(feed, 'wake').mockImplementation(() => undefined);
    await register(agent('c', long)); // 3
    await register(agent('x', long)); // 4
    t.clock.advance(11_000);
    await register(agent('d', long)); // 5
    await t.app.get(CleanupJob).run(); // prunes through 4 (its event is kept): 3 is gone
    // A watcher that starts after the gap (its revision is still kept) is not behind.
    const after = await watch('/events?since=4');
    expect(after.status).toBe(200);
    stopped.mockRestore();
    feed.wake();

    await Promise.race([behind.ended, behind.waitForEvents(2).catch(() => undefined)]);
    expect(behind.events.map((e) => revisionIn(e.id))).toEqual(['2']);
    await behind.ended;
    // Its client resumes from the last event it has, and is told to list again.
    const resumed = await watch('/events', { 'Last-Event-ID': behind.lastEventId });
    expect(resumed.status).toBe(410);
    expect((await after.waitForEvents(1)).map((e) => revisionIn(e.id))).toEqual(['5']);
    await register(agent('e', long));
    expect((await after.waitForEvents(2)).map((e) => revisionIn(e.id))).toEqual(['5', '6']);
  });

  it("a filtered watcher's Last-Event-ID follows the events it passed over (id-only progress with the keepalive): no spurious 410", async () => {
    await t.close();
    t = await createTestApp({ EVENTS_RETENTION: '10s', EVENTS_POLL_MS: '50', EVENTS_KEEPALIVE_SECONDS: '1' }, dialect);
    const long = { ttl_seconds: 3600 };
    const filtered = await watch('/events?since=0&capability=x');
    const all = await watch('/events?since=0');
    await register(agent('match', { ...long, capabilities: ['x'] })); // revision 1
    expect((await filtered.waitForEvents(1)).map((e) => revisionIn(e.id))).toEqual(['1']);
    await register(agent('other-1', long));
    await register(agent('other-2', long));
    await filtered.waitForProgress('3', 5000);
    // Progress is no event, and claims nothing beyond what the watch was given or passed over.
    expect(filtered.events.map((e) => revisionIn(e.id))).toEqual(['1']);
    expect(revisionIn(filtered.lastEventId)).toBe('3');
    expect(filtered.lastEventId).toMatch(POSITION);
    expect(filtered.progress.map(revisionIn)).toEqual(['3']);
    // An unfiltered watch is sent every event: it has nothing to catch up with.
    await all.waitForEvents(3);
    await all.waitForComment(/^keepalive$/, 5000);
    expect(all.progress).toEqual([]);

    // The one match is older than the retention; the events passed over after it are kept.
    t.clock.advance(11_000);
    await register(agent('other-3', long)); // 4
    await t.app.get(CleanupJob).run(); // prunes 1-3
    filtered.close();
    const resumed = await watch('/events?capability=x', { 'Last-Event-ID': filtered.lastEventId });
    expect(resumed.status).toBe(200);
    await register(agent('match-2', { ...long, capabilities: ['x'] })); // 5
    expect((await resumed.waitForEvents(1)).map((e) => revisionIn(e.id))).toEqual(['5']);
  });

  it("prunes the oldest events in revision order, measured from the newest event's time: a clock ahead or behind prunes nothing recent", async () => {
    await t.close();
    t = await createTestApp({ EVENTS_RETENTION: '10s', EVENTS_POLL_MS: '50' }, dialect);
    const feed = t.app.get(ChangeFeed);
    const start = t.clock.now().getTime();
    const at = (offset: number) => t.clock.set(new Date(start + offset));
    await register(agent('a')); // revision 1, at start
    at(-3_600_000); // a replica whose clock is an hour behind writes
    await register(agent('b')); // 2
    at(5_000);
    await register(agent('c')); // 3
    // A pruning replica whose clock is an hour ahead: the newest event is 5 s old, nothing is past the retention.
    expect(await feed.pruneOldEvents(start + 3_600_000)).toBe(0);
    // One on time: revision 2 looks old, but revision 1 before it is not; the log is pruned as a prefix.
    expect(await feed.pruneOldEvents(start + 5_000)).toBe(0);
    expect((await watch('/events?since=0')).status).toBe(200);

    at(20_000);
    await register(agent('d')); // 4
    // 1-3 are old: pruned through 3, whose event is kept (a position at it can be checked).
    expect(await feed.pruneOldEvents(start + 20_000)).toBe(2);
    expect((await watch('/events?since=2')).status).toBe(410);
    // The newest event is never pruned, however old: a replica behind the log always sees the gap.
    expect(await feed.pruneOldEvents(start + 3_600_000)).toBe(0);
    expect((await watch('/events?since=3')).status).toBe(200);
  });

  it.each([
    ['?since=-1', {}, 'since'],
    ['?since=abc', {}, 'since'],
    ['?since=3.', {}, 'since'],
    ['?since=3.9F3AB2C1', {}, 'since'],
    ['?since=3.9f3ab2', {}, 'since'],
    ['', { 'Last-Event-ID': '3.xyz' }, 'Last-Event-ID'],
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
    expect([...slow.events, ...rest].map((e) => Number(revisionIn(e.id)))).toEqual(
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
