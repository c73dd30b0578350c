import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { RegistryModule } from '../registry/registry.module';
import { SchedulerModule } from '../scheduler/scheduler.module';
import { HealthController } from './health.controller';

@Module({
  imports: [TerminusModule.forRoot({ errorLogStyle: 'pretty' }), RegistryModule, SchedulerModule],
  controllers: [HealthController],
})
export class HealthModule {}
