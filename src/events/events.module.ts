import { Module } from '@nestjs/common';
import { ChangeFeed } from './change-feed';
import { EventsController } from './events.controller';
import { EVENTS_METRICS } from './events.metrics';
import { WatchSlots } from './watch-slots';
import { WatchStarts } from './watch-start';

/** The watch: GET /events, the change feed that reads the registry's event log and fans it out to the watchers. */
@Module({
  controllers: [EventsController],
  providers: [ChangeFeed, WatchSlots, WatchStarts, ...EVENTS_METRICS],
  exports: [ChangeFeed],
})
export class EventsModule {}
