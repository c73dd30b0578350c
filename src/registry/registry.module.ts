import { MikroOrmModule } from '@mikro-orm/nestjs';
import { Module } from '@nestjs/common';
import { makeGaugeProvider } from '@willsoto/nestjs-prometheus';
import { EventsModule } from '../events/events.module';
import { AgentRecord } from './agent-record.entity';
import { EXPIRY_GUARD_ENGAGED, EXPIRY_GUARD_ENGAGED_HELP, ExpiryGuard } from './expiry-guard';
import { ExpiryGuardController } from './expiry-guard.controller';
import { LeaseGrace } from './lease-grace';
import { RegistryController } from './registry.controller';
import { RegistryService } from './registry.service';
import { RegistryWriter } from './registry-writer';

@Module({
  imports: [MikroOrmModule.forFeature([AgentRecord]), EventsModule],
  controllers: [RegistryController, ExpiryGuardController],
  providers: [
    RegistryService,
    RegistryWriter,
    LeaseGrace,
    ExpiryGuard,
    makeGaugeProvider({
      name: EXPIRY_GUARD_ENGAGED,
      help: EXPIRY_GUARD_ENGAGED_HELP,
    }),
  ],
  exports: [RegistryService, LeaseGrace, ExpiryGuard],
})
export class RegistryModule {}
