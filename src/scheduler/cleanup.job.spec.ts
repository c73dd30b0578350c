import { INestApplicationContext, Logger } from '@nestjs/common';
import { ScheduleModule, SchedulerRegistry } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import { APP_CONFIG } from '../config/app-config';
import { RegistryService } from '../registry/registry.service';
import { CLEANUP_JOB, CleanupJob } from './cleanup.job';

/**
 * The cron handler's own logic and its scheduling, with the registry replaced: counting, logging, the configured
 * schedule, no overlap, no crash, and a shutdown that waits for a run in progress.
 */
describe('CleanupJob', () => {
  let removeExpired: jest.Mock<Promise<number>, []>;
  let app: INestApplicationContext;
  let job: CleanupJob;
  let log: jest.SpyInstance;
  let error: jest.SpyInstance;

  beforeEach(async () => {
    removeExpired = jest.fn<Promise<number>, []>();
    const moduleRef = await Test.createTestingModule({
      imports: [ScheduleModule.forRoot()],
      providers: [
        CleanupJob,
        { provide: RegistryService, useValue: { removeExpired } },
        { provide: APP_CONFIG, useValue: { cleanupCron: '0 0 0 1 1 *' } },
      ],
    }).compile();
    app = await moduleRef.init();
    job = app.get(CleanupJob);
    log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'debug').mockImplementation(() => undefined);
  });

  afterEach(async () => {
    await app.close();
    jest.restoreAllMocks();
  });

  const cron = () => app.get(SchedulerRegistry).getCronJob(CLEANUP_JOB);

  it('is scheduled by CLEANUP_CRON', () => {
    expect(cron().cronTime.source).toBe('0 0 0 1 1 *');
    expect(cron().isActive).toBe(true);
  });

  it('removes expired agents and logs how many', async () => {
    removeExpired.mockResolvedValue(3);
    await expect(job.run()).resolves.toBe(3);
    expect(removeExpired).toHaveBeenCalledTimes(1);
    expect(log).toHaveBeenCalledWith('Cleanup removed 3 expired agent(s)');
  });

  it('does not log at the default level when nothing expired', async () => {
    removeExpired.mockResolvedValue(0);
    await expect(job.run()).resolves.toBe(0);
    expect(log).not.toHaveBeenCalled();
  });

  it('logs a failure instead of throwing, and runs again next time', async () => {
    removeExpired.mockRejectedValueOnce(new Error('database is locked'));
    await expect(job.run()).resolves.toBeUndefined();
    expect(error).toHaveBeenCalledWith(expect.stringContaining('Cleanup failed'), expect.stringContaining('locked'));

    removeExpired.mockResolvedValue(1);
    await expect(job.run()).resolves.toBe(1);
  });

  it('never overlaps: a tick during a run is skipped', async () => {
    let finish!: (n: number) => void;
    removeExpired.mockReturnValueOnce(new Promise<number>((resolve) => (finish = resolve)));

    const first = cron().fireOnTick();
    await cron().fireOnTick();
    expect(removeExpired).toHaveBeenCalledTimes(1);
    finish(2);
    await first;

    removeExpired.mockResolvedValue(0);
    await cron().fireOnTick();
    expect(removeExpired).toHaveBeenCalledTimes(2);
  });

  it('shutdown stops the schedule and waits for the run in progress', async () => {
    let finish!: (n: number) => void;
    removeExpired.mockReturnValueOnce(new Promise<number>((resolve) => (finish = resolve)));
    const tick = cron().fireOnTick();

    let closed = false;
    const closing = app.close().then(() => (closed = true));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(closed).toBe(false);
    expect(cron().isActive).toBe(false);

    finish(0);
    await closing;
    await tick;
    expect(closed).toBe(true);
  });
});
