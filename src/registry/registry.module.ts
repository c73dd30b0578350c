import { Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module';
import { RegistryController } from './registry.controller';
import { REGISTRY_METRICS } from './registry.metrics';
import { RegistryService } from './registry.service';
import { RegistryWriter } from './persistence/registry-writer';

@Module({
  imports: [EventsModule],
  controllers: [RegistryController],
  providers: [RegistryService, RegistryWriter, ...REGISTRY_METRICS],
  exports: [RegistryService],
})
export class RegistryModule {}
