import { Logger } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { AppConfig } from '../config/app-config';
import { RegistryService } from '../registry/registry.service';
import { CleanupJob } from './cleanup.job';

/** The cron handler's own logic, with the registry replaced: counting, logging, no overlap, no crash. */
describe('CleanupJob', () => {
  let removeExpired: jest.Mock<Promise<number>, []>;
  let job: CleanupJob;
  let log: jest.SpyInstance;
  let error: jest.SpyInstance;
  let warn: jest.SpyInstance;

  beforeEach(() => {
    removeExpired = jest.fn<Promise<number>, []>();
    job = new CleanupJob({ removeExpired } as unknown as RegistryService, new SchedulerRegistry(), {
      cleanupCron: '* * * * * *',
    } as AppConfig);
    log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'debug').mockImplementation(() => undefined);
  });

  afterEach(() => jest.restoreAllMocks());

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

  it('never overlaps: a tick during a run is skipped', async () => {
    let finish!: (n: number) => void;
    removeExpired.mockReturnValue(new Promise<number>((resolve) => (finish = resolve)));

    const first = job.run();
    await expect(job.run()).resolves.toBeUndefined();
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('skipped'));
    finish(2);
    await expect(first).resolves.toBe(2);
    expect(removeExpired).toHaveBeenCalledTimes(1);

    removeExpired.mockResolvedValue(0);
    await expect(job.run()).resolves.toBe(0);
    expect(removeExpired).toHaveBeenCalledTimes(2);
  });

  it('logs a failure instead of throwing, and runs again next time', async () => {
    removeExpired.mockRejectedValueOnce(new Error('database is locked'));
    await expect(job.run()).resolves.toBeUndefined();
    expect(error).toHaveBeenCalledWith(expect.stringContaining('Cleanup failed'), expect.stringContaining('locked'));

    removeExpired.mockResolvedValue(1);
    await expect(job.run()).resolves.toBe(1);
  });

  it('shutdown waits for the run in progress', async () => {
    let finish!: (n: number) => void;
    removeExpired.mockReturnValue(new Promise<number>((resolve) => (finish = resolve)));
    const run = job.run();

    let stopped = false;
    const shutdown = job.beforeApplicationShutdown().then(() => (stopped = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(stopped).toBe(false);
    finish(0);
    await shutdown;
    expect(stopped).toBe(true);
    await run;
  });
});
