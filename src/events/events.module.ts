import { Module } from '@nestjs/common';
import { ChangeFeed } from './change-feed';
import { EventsController } from './events.controller';
import { EVENTS_METRICS } from './events.metrics';
import { WatchSlots } from './watch-slots';
import { WatchStarts } from './watch-start';

/** The change feed: the event log the registry's writes append to, and the watchers that follow it. */
@Module({
  controllers: [EventsController],
  providers: [ChangeFeed, WatchSlots, WatchStarts, ...EVENTS_METRICS],
  exports: [ChangeFeed],
})
export class EventsModule {}
