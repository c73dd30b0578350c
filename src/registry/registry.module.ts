import { MikroOrmModule } from '@mikro-orm/nestjs';
import { Module } from '@nestjs/common';
import { AgentRecord } from './agent-record.entity';
import { RegistryController } from './registry.controller';
import { RegistryService } from './registry.service';
import { RegistryWriter } from './registry-writer';

@Module({
  imports: [MikroOrmModule.forFeature([AgentRecord])],
  controllers: [RegistryController],
  providers: [RegistryService, RegistryWriter],
  exports: [RegistryService],
})
export class RegistryModule {}
