import { Module } from '@nestjs/common';
import { RegistryModule } from '../registry/registry.module';
import { PrometheusSdController } from './prometheus-sd.controller';

/** /sd: the registry's agents in the formats of other systems' service discovery (Prometheus). */
@Module({
  imports: [RegistryModule],
  controllers: [PrometheusSdController],
})
export class ServiceDiscoveryModule {}
