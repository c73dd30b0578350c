import { Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { DatabaseModule } from '../database/database.module';
import { EventsModule } from '../events/events.module';
import { RegistryModule } from '../registry/registry.module';
import { CleanupJob } from './cleanup.job';
import { CLEANUP_METRICS } from './cleanup.metrics';
import { ExpiredAgents } from './expired-agents';
import { ExpiryGuard } from './expiry-guard';
import { ExpiryGuardController } from './expiry-guard.controller';
import { LeaseGrace } from './lease-grace';
import { SCHEDULER_DATABASE } from './scheduler.database';

/** All of expiry: the cleanup job, the removal of expired agents, restart grace, and the mass-expiry guard. */
@Module({
  imports: [ScheduleModule.forRoot(), DatabaseModule.forFeature(SCHEDULER_DATABASE), RegistryModule, EventsModule],
  controllers: [ExpiryGuardController],
  providers: [CleanupJob, ExpiredAgents, LeaseGrace, ExpiryGuard, ...CLEANUP_METRICS],
  exports: [ExpiryGuard],
})
export class SchedulerModule {}
