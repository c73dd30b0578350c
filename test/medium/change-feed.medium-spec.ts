import { EntityManager } from '@mikro-orm/knex';
import { GoneException } from '@nestjs/common';
import { ChangeFeed } from '../../src/events/change-feed';
import { eventAt, StoredEvent } from '../../src/registry/persistence/event-log';
import { WatchStarts } from '../../src/events/watch-start';
import { WatchSink } from '../../src/events/watcher';
import { NO_FILTER } from '../../src/registry/discovery';
import { RegistryService } from '../../src/registry/registry.service';
import { onEachDatabase } from '../support/databases';
import { createTestContext, TestContext } from '../support/test-context';

/** A client as the feed sees it: what it was sent, passed over, and why it was ended. */
class RecordingSink implements WatchSink {
  readonly sent: { revision: number; type: string; agentId: string; matches: boolean }[] = [];
  readonly passedOver: number[] = [];
  endedWith?: string;

  send(event: StoredEvent, matches: boolean): boolean {
    this.sent.push({ revision: event.revision, type: event.type, agentId: event.agentId, matches });
    return true;
  }

  passed(event: StoredEvent): void {
    this.passedOver.push(event.revision);
  }

  drained(): Promise<void> {
    return Promise.resolve();
  }

  end(reason: string): void {
    this.endedWith = reason;
  }
}

/** Waits until `done()` holds, reading the log meanwhile (as its poll would). */
async function until(feed: ChangeFeed, done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    feed.wake();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const RETENTION_MS = 60_000;

/** The change feed over a real database, without HTTP: it reads the log, resumes from positions, and tells a gap. */
describe.each(onEachDatabase())('ChangeFeed (%s)', (dialect) => {
  let t: TestContext;
  let feed: ChangeFeed;
  let starts: WatchStarts;
  let registry: RegistryService;

  beforeEach(async () => {
    t = await createTestContext({ EVENTS_RETENTION: `${RETENTION_MS / 1000}s` }, dialect);
    feed = t.get(ChangeFeed);
    starts = t.get(WatchStarts);
    registry = t.get(RegistryService);
  });

  afterEach(async () => {
    await t.close();
  });

  const register = (agentId: string, capabilities: string[] = []) =>
    registry.register({ agent_id: agentId, agent_name: agentId, host: '10.0.0.1', port: 8080, capabilities });

  const positionOf = async (revision: number) => {
    const event = await eventAt(t.orm.em.fork() as EntityManager, revision);
    return { revision, fingerprint: event!.fingerprint };
  };

  it('hands a watcher the log from where it starts, then each new event, in revision order', async () => {
    await register('a');
    await register('b', ['x']);
    const start = await starts.after({ revision: 0 });
    expect(start).toMatchObject({ since: 0, revision: 2 });
    expect(start.position).toMatch(/^2\.[0-9a-f]{8}$/);

    const all = new RecordingSink();
    const filtered = new RecordingSink();
    await feed.watch(start.since, NO_FILTER, all);
    await feed.watch(start.since, { ...NO_FILTER, capabilities: ['x'] }, filtered);
    await register('c', ['x']);
    await registry.deregister('a');
    await until(feed, () => all.sent.length === 4 && filtered.sent.length === 2, 'the new events');

    expect(all.sent).toEqual([
      { revision: 1, type: 'registered', agentId: 'a', matches: true },
      { revision: 2, type: 'registered', agentId: 'b', matches: true },
      { revision: 3, type: 'registered', agentId: 'c', matches: true },
      { revision: 4, type: 'deregistered', agentId: 'a', matches: false },
    ]);
    expect(filtered.sent.map((e) => e.agentId)).toEqual(['b', 'c']);
    expect(filtered.passedOver).toEqual([1, 4]);
    expect(feed.watcherCount).toBe(2);
    feed.unwatch(all);
    expect(feed.watcherCount).toBe(1);
  });

  it('resumes after a position the log holds as it was, and answers 410 for one it does not', async () => {
    for (const id of ['a', 'b', 'c']) await register(id);
    const two = await positionOf(2);

    const resumed = await starts.after(two);
    expect(resumed).toMatchObject({ since: 2, revision: 3 });
    const sink = new RecordingSink();
    await feed.watch(resumed.since, NO_FILTER, sink);
    expect(sink.sent.map((e) => e.revision)).toEqual([3]);

    // Another history's event at revision 2 (a restore, a failover to a replica that lagged).
    await expect(starts.after({ revision: 2, fingerprint: '00000000' })).rejects.toThrow(/was replaced/);
    await expect(starts.after({ revision: 9 })).rejects.toThrow(/ahead of this registry's \(3\)/);
    // A plain revision is resumed from unchecked; revision 0 precedes every history.
    await expect(starts.after({ revision: 2 })).resolves.toMatchObject({ since: 2 });
    await expect(starts.after({ revision: 0, fingerprint: '00000000' })).resolves.toMatchObject({ since: 0 });
  });

  it('ends every watcher when the log it read is replaced under it', async () => {
    await register('a');
    await register('b');
    const sink = new RecordingSink();
    await feed.watch(0, NO_FILTER, sink);
    await until(feed, () => sink.sent.length === 2, 'the first events');

    // The event at the feed's head is now another one: the log is another history from here.
    await t.orm.em.getConnection().execute('update agent_event set at = at + 1 where revision = 2');
    await until(feed, () => sink.endedWith !== undefined, 'the watcher to be ended');
    expect(sink.endedWith).toMatch(/the event log was replaced/);
    expect(feed.watcherCount).toBe(0);
  });

  it('prunes by revision what is older than the retention, and a position before it is gone (410)', async () => {
    for (const id of ['a', 'b', 'c']) await register(id);
    t.clock.advance(RETENTION_MS + 1000);
    await register('d');

    // The event at the pruned-through revision is kept, and so is the newest.
    expect(await feed.pruneOldEvents(t.clock.now().getTime())).toBe(2);
    const error = await starts.after({ revision: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GoneException);
    expect((error as GoneException).message).toMatch(/no longer kept \(the oldest kept is revision 3\)/);

    const three = await positionOf(3);
    const sink = new RecordingSink();
    await feed.watch((await starts.after(three)).since, NO_FILTER, sink);
    expect(sink.sent.map((e) => e.revision)).toEqual([4]);
    // Nothing more is old enough.
    expect(await feed.pruneOldEvents(t.clock.now().getTime())).toBe(0);
  });
});
