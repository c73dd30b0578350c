import { Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { EventsModule } from '../events/events.module';
import { RegistryModule } from '../registry/registry.module';
import { CleanupJob } from './cleanup.job';

@Module({
  imports: [ScheduleModule.forRoot(), RegistryModule, EventsModule],
  providers: [CleanupJob],
})
export class SchedulerModule {}
