import { Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module';
import { ExpiryGuard } from './expiry-guard';
import { ExpiryGuardController } from './expiry-guard.controller';
import { LeaseGrace } from './lease-grace';
import { RegistryController } from './registry.controller';
import { REGISTRY_METRICS } from './registry.metrics';
import { RegistryService } from './registry.service';
import { RegistryWriter } from './persistence/registry-writer';

@Module({
  imports: [EventsModule],
  controllers: [RegistryController, ExpiryGuardController],
  providers: [RegistryService, RegistryWriter, LeaseGrace, ExpiryGuard, ...REGISTRY_METRICS],
  exports: [RegistryService, LeaseGrace, ExpiryGuard],
})
export class RegistryModule {}
