import { INestApplicationContext, Logger } from '@nestjs/common';
import { ScheduleModule, SchedulerRegistry } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import { APP_CONFIG } from '../config/environment';
import { Clock } from '../common/clock';
import { ChangeFeed } from '../events/change-feed';
import { HeldAgents } from './expired-agents.repository';
import { CleanupHolds, ExpiryGuard } from './expiry-guard';
import { LeaseGrace } from './lease-grace';
import { CLEANUP_JOB, CleanupJob } from './cleanup.job';
import { ExpiredAgents } from './expired-agents';
import { CLEANUP_METRICS } from './cleanup.metrics';

/**
 * The cron handler's own logic and its scheduling, with the registry replaced: counting, logging, the configured
 * schedule, no overlap, no crash, and a shutdown that waits for a run in progress.
 */
const NOW = Date.parse('2026-11-27T09:00:00Z');
const NOTHING_HELD: CleanupHolds = { at: NOW - 5, everything: false, owners: [], unowned: false };

describe('CleanupJob', () => {
  let removeExpired: jest.Mock<Promise<string[]>, [HeldAgents?, number?]>;
  let pruneOldEvents: jest.Mock<Promise<number>, [number]>;
  let observe: jest.Mock<Promise<number>, []>;
  let check: jest.Mock<Promise<CleanupHolds>, []>;
  let app: INestApplicationContext;
  let job: CleanupJob;
  let log: jest.SpyInstance;
  let error: jest.SpyInstance;
  let debug: jest.SpyInstance;

  beforeEach(async () => {
    removeExpired = jest.fn<Promise<string[]>, [HeldAgents?, number?]>();
    pruneOldEvents = jest.fn<Promise<number>, [number]>().mockResolvedValue(0);
    observe = jest.fn<Promise<number>, []>().mockResolvedValue(0);
    check = jest.fn<Promise<CleanupHolds>, []>().mockResolvedValue(NOTHING_HELD);
    const moduleRef = await Test.createTestingModule({
      imports: [ScheduleModule.forRoot()],
      providers: [
        CleanupJob,
        ...CLEANUP_METRICS,
        { provide: ExpiredAgents, useValue: { remove: removeExpired } },
        { provide: LeaseGrace, useValue: { observe } },
        { provide: ExpiryGuard, useValue: { check } },
        { provide: ChangeFeed, useValue: { pruneOldEvents } },
        { provide: Clock, useValue: { now: () => new Date(NOW) } },
        { provide: APP_CONFIG, useValue: { cleanupCron: '0 0 0 1 1 *' } },
      ],
    }).compile();
    app = await moduleRef.init();
    job = app.get(CleanupJob);
    log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    debug = jest.spyOn(Logger.prototype, 'debug').mockImplementation(() => undefined);
  });

  afterEach(async () => {
    await app.close();
    jest.restoreAllMocks();
  });

  const cron = () => app.get(SchedulerRegistry).getCronJob(CLEANUP_JOB);

  it('prunes the event log after removing agents, from the injected clock', async () => {
    removeExpired.mockResolvedValue([]);
    pruneOldEvents.mockResolvedValue(7);
    await expect(job.run()).resolves.toEqual([]);
    expect(pruneOldEvents).toHaveBeenCalledWith(NOW);
    expect(debug).toHaveBeenCalledWith('Cleanup pruned 7 event(s) past EVENTS_RETENTION');
  });

  it('forgives the leases that ran out while the registry was deaf before it removes any (LeaseGrace)', async () => {
    const order: string[] = [];
    observe.mockImplementation(() => (order.push('grace'), Promise.resolve(0)));
    removeExpired.mockImplementation(() => (order.push('remove'), Promise.resolve([])));
    await job.run();
    expect(order).toEqual(['grace', 'remove']);
  });

  it('removes nothing while the mass-expiry guard holds the whole registry, and still prunes events', async () => {
    check.mockResolvedValue({ ...NOTHING_HELD, everything: true });
    await expect(job.run()).resolves.toEqual([]);
    expect(removeExpired).not.toHaveBeenCalled();
    expect(pruneOldEvents).toHaveBeenCalled();
  });

  it("keeps the agents of the keys the guard holds, and removes the others' that ran out by the guard's instant", async () => {
    const holds = { at: NOW - 5, everything: false, owners: ['fleet-a'], unowned: true };
    check.mockResolvedValue(holds);
    removeExpired.mockResolvedValue(['b']);
    await expect(job.run()).resolves.toEqual(['b']);
    expect(removeExpired).toHaveBeenCalledWith(holds, NOW - 5);
  });

  it('neither checks nor removes when the grace look fails: the last completed check stays where it was', async () => {
    observe.mockRejectedValueOnce(new Error('database is locked'));
    await expect(job.run()).resolves.toBeUndefined();
    expect(check).not.toHaveBeenCalled();
    expect(removeExpired).not.toHaveBeenCalled();
  });

  it('is scheduled by CLEANUP_CRON', () => {
    expect(cron().cronTime.source).toBe('0 0 0 1 1 *');
    expect(cron().isActive).toBe(true);
  });

  it('removes expired agents and logs how many', async () => {
    removeExpired.mockResolvedValue(['a', 'b', 'c']);
    await expect(job.run()).resolves.toEqual(['a', 'b', 'c']);
    expect(removeExpired).toHaveBeenCalledTimes(1);
    expect(log).toHaveBeenCalledWith('Cleanup removed 3 expired agent(s)');
    expect(debug).toHaveBeenCalledWith('Removed: a, b, c');
  });

  it('lists at most 20 removed ids in its debug line', async () => {
    removeExpired.mockResolvedValue(Array.from({ length: 25 }, (_, i) => `agent-${i}`));
    await job.run();
    expect(log).toHaveBeenCalledWith('Cleanup removed 25 expired agent(s)');
    expect(debug).toHaveBeenCalledWith(expect.stringMatching(/^Removed: agent-0, .*, agent-19 and 5 more$/));
  });

  it('does not log at the default level when nothing expired', async () => {
    removeExpired.mockResolvedValue([]);
    await expect(job.run()).resolves.toEqual([]);
    expect(log).not.toHaveBeenCalled();
  });

  it('logs a failure instead of throwing, and runs again next time', async () => {
    removeExpired.mockRejectedValueOnce(new Error('database is locked'));
    await expect(job.run()).resolves.toBeUndefined();
    expect(error).toHaveBeenCalledWith(expect.stringContaining('Cleanup failed'), expect.stringContaining('locked'));

    removeExpired.mockResolvedValue(['a']);
    await expect(job.run()).resolves.toEqual(['a']);
  });

  it('never overlaps: a tick during a run is skipped', async () => {
    let finish!: (ids: string[]) => void;
    removeExpired.mockReturnValueOnce(new Promise<string[]>((resolve) => (finish = resolve)));

    const first = cron().fireOnTick();
    await cron().fireOnTick();
    expect(removeExpired).toHaveBeenCalledTimes(1);
    finish(['a', 'b']);
    await first;

    removeExpired.mockResolvedValue([]);
    await cron().fireOnTick();
    expect(removeExpired).toHaveBeenCalledTimes(2);
  });

  it('shutdown stops the schedule and waits for the run in progress', async () => {
    let finish!: (ids: string[]) => void;
    removeExpired.mockReturnValueOnce(new Promise<string[]>((resolve) => (finish = resolve)));
    const tick = cron().fireOnTick();

    let closed = false;
    const closing = app.close().then(() => (closed = true));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(closed).toBe(false);
    expect(cron().isActive).toBe(false);

    finish([]);
    await closing;
    await tick;
    expect(closed).toBe(true);
  });
});
