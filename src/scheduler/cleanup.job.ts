import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Cron, CronExpression, SchedulerRegistry } from '@nestjs/schedule';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { CronTime } from 'cron';
import { Counter, Gauge, Histogram } from 'prom-client';
import { APP_CONFIG } from '../config/environment';
import { SchedulerSection } from './scheduler.config';
import { Clock } from '../common/clock';
import { ChangeFeed } from '../events/change-feed';
import { ExpiryGuard } from './expiry-guard';
import { LeaseGrace } from './lease-grace';
import { ExpiredAgents } from './expired-agents';
import { CLEANUP_DURATION, CLEANUP_REMOVED, EXPIRATIONS } from './cleanup.metrics';

export const CLEANUP_JOB = 'agent-cleanup';

/**
 * Removes expired agents. Listing already hides them from the moment they expire; this keeps the table small.
 * Runs never overlap within a process (a tick during a run is skipped); CLEANUP_CRON=off leaves the schedule stopped.
 * Across replicas every one runs it: the delete goes in bounded chunks, each of which re-checks every lease it
 * deletes, so runs at once are safe, and each removed agent is counted by the one replica whose chunk removed it.
 */
@Injectable()
export class CleanupJob implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(CleanupJob.name);

  constructor(
    private readonly expired: ExpiredAgents,
    private readonly grace: LeaseGrace,
    private readonly guard: ExpiryGuard,
    private readonly feed: ChangeFeed,
    private readonly clock: Clock,
    private readonly scheduler: SchedulerRegistry,
    @Inject(APP_CONFIG) private readonly config: SchedulerSection,
    @InjectMetric(CLEANUP_DURATION) private readonly duration: Histogram<'result'>,
    @InjectMetric(CLEANUP_REMOVED) private readonly lastRemoved: Gauge,
    @InjectMetric(EXPIRATIONS) private readonly expirations: Counter,
  ) {}

  /**
   * `@Cron` takes its expression when the class is defined; the validated CLEANUP_CRON is applied here (`off`: the
   * schedule stays stopped).
   */
  onApplicationBootstrap(): void {
    if (this.config.cleanupCron === undefined) return;
    const job = this.scheduler.getCronJob(CLEANUP_JOB);
    job.setTime(new CronTime(this.config.cleanupCron));
    job.start();
  }

  /** Stops the schedule and waits for a run in progress, before the database closes. */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.scheduler.doesExist('cron', CLEANUP_JOB)) {
      await this.scheduler.getCronJob(CLEANUP_JOB).stop();
    }
  }

  /**
   * One cleanup run: removes expired agents, then prunes events older than EVENTS_RETENTION. Resolves with the ids
   * of the agents it removed, or undefined if it failed (and was logged).
   */
  @Cron(CronExpression.EVERY_MINUTE, { name: CLEANUP_JOB, disabled: true, waitForCompletion: true })
  async run(): Promise<string[] | undefined> {
    const end = this.duration.startTimer();
    try {
      // Leases that ran out while the registry could not hear heartbeats are forgiven before any is removed.
      await this.grace.observe();
      // Too many leases ran out at once: keep those agents (see ExpiryGuard), or all of them, and prune events.
      const holds = await this.guard.check();
      const removed = holds.everything ? [] : await this.expired.remove(holds, holds.at);
      this.lastRemoved.set(removed.length);
      this.expirations.inc(removed.length);
      if (removed.length > 0) {
        this.logger.log(`Cleanup removed ${removed.length} expired agent(s)`);
        this.logger.debug(`Removed: ${abbreviate(removed)}`);
      } else {
        this.logger.debug('Cleanup removed no agents');
      }
      const pruned = await this.feed.pruneOldEvents(this.clock.now().getTime());
      if (pruned > 0) this.logger.debug(`Cleanup pruned ${pruned} event(s) past EVENTS_RETENTION`);
      end({ result: 'ok' });
      return removed;
    } catch (error) {
      end({ result: 'failed' });
      this.logger.error('Cleanup failed; the next run retries', error instanceof Error ? error.stack : String(error));
      return undefined;
    }
  }
}

const LISTED_IDS = 20;

function abbreviate(ids: string[]): string {
  const more = ids.length - LISTED_IDS;
  return ids.slice(0, LISTED_IDS).join(', ') + (more > 0 ? ` and ${more} more` : '');
}
