import { Module } from '@nestjs/common';
import { ChangeFeed } from './change-feed';
import { EventsController } from './events.controller';

/** The change feed: the event log the registry's writes append to, and the watchers that follow it. */
@Module({
  controllers: [EventsController],
  providers: [ChangeFeed],
  exports: [ChangeFeed],
})
export class EventsModule {}
