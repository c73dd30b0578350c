import { MikroOrmModule } from '@mikro-orm/nestjs';
import { Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module';
import { AgentRecord } from './agent-record.entity';
import { LeaseGrace } from './lease-grace';
import { RegistryController } from './registry.controller';
import { RegistryService } from './registry.service';
import { RegistryWriter } from './registry-writer';

@Module({
  imports: [MikroOrmModule.forFeature([AgentRecord]), EventsModule],
  controllers: [RegistryController],
  providers: [RegistryService, RegistryWriter, LeaseGrace],
  exports: [RegistryService, LeaseGrace],
})
export class RegistryModule {}
