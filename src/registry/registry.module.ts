import { MikroOrmModule } from '@mikro-orm/nestjs';
import { Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module';
import { AgentRecord } from './agent-record.entity';
import { RegistryController } from './registry.controller';
import { REGISTRY_METRICS } from './registry.metrics';
import { RegistryService } from './registry.service';
import { RegistryWriter } from './registry-writer';

@Module({
  imports: [MikroOrmModule.forFeature([AgentRecord]), EventsModule],
  controllers: [RegistryController],
  providers: [RegistryService, RegistryWriter, ...REGISTRY_METRICS],
  exports: [RegistryService],
})
export class RegistryModule {}
