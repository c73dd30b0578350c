import { Global, Module } from '@nestjs/common';
import { Clock } from './clock';
import { HttpDrain } from './http-drain';

/** Cross-cutting providers every feature may inject. */
@Global()
@Module({
  providers: [Clock, HttpDrain],
  exports: [Clock],
})
export class CommonModule {}
