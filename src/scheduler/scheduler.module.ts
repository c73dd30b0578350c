import { Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { RegistryModule } from '../registry/registry.module';
import { CleanupJob } from './cleanup.job';

@Module({
  imports: [ScheduleModule.forRoot(), RegistryModule],
  providers: [CleanupJob],
})
export class SchedulerModule {}
