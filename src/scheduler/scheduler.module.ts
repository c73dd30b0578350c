import { Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { EventsModule } from '../events/events.module';
import { RegistryModule } from '../registry/registry.module';
import { CleanupJob } from './cleanup.job';
import { CLEANUP_METRICS } from './cleanup.metrics';

@Module({
  imports: [ScheduleModule.forRoot(), RegistryModule, EventsModule],
  providers: [CleanupJob, ...CLEANUP_METRICS],
})
export class SchedulerModule {}
