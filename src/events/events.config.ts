import { IsString, Matches } from 'class-validator';
import { ConfigSection, Problems } from '../config/environment';
import {
  COUNT_OR_OFF,
  countRule,
  DURATION,
  IntegerBetween,
  parseCount,
  parseDuration,
  parseSize,
  SIZE,
  SIZE_RULE,
} from '../config/parsers';

export interface EventsSection {
  /** How long the event log keeps events; resuming from an older revision is a 410. */
  eventsRetentionMs: number;
  /** How often an event stream sends a comment line, so proxies and clients see it alive. */
  eventsKeepaliveMs: number;
  /** Bytes a watcher's client may fall behind before it is disconnected. */
  eventsClientBufferBytes: number;
  /** How often each replica reads the event log for other replicas' events. */
  eventsPollMs: number;
  /**
   * Event streams one key may hold open (WATCH_STREAMS_PER_KEY), and how many one replica serves (WATCH_STREAMS_MAX);
   * see WatchSlots. Undefined: no limit.
   */
  quotas: { watchStreamsPerKey?: number; watchStreamsMax?: number };
}

const WATCH_STREAMS_RULE = countRule('event streams');

class EventsVariables {
  @IsString()
  @Matches(DURATION, { message: 'must be a duration: seconds, or with a unit: 90s, 15m, 1h, 7d' })
  EVENTS_RETENTION: string = '1h';

  @IntegerBetween(1, 300)
  EVENTS_KEEPALIVE_SECONDS: number = 15;

  @IsString()
  @Matches(SIZE, { message: SIZE_RULE })
  EVENTS_CLIENT_BUFFER: string = '1mb';

  @IntegerBetween(10, 60_000, 'a number of milliseconds')
  EVENTS_POLL_MS: number = 250;

  @Matches(COUNT_OR_OFF, { message: `must be ${WATCH_STREAMS_RULE}` })
  WATCH_STREAMS_PER_KEY: string = '100';

  @Matches(COUNT_OR_OFF, { message: `must be ${WATCH_STREAMS_RULE}` })
  WATCH_STREAMS_MAX: string = '1000';
}

export const eventsSection: ConfigSection<EventsVariables, EventsSection> = {
  variables: EventsVariables,
  slice(vars: EventsVariables, problems: Problems): EventsSection {
    const eventsRetentionMs = parseDuration(vars.EVENTS_RETENTION);
    if (eventsRetentionMs !== undefined && (eventsRetentionMs < 1000 || eventsRetentionMs > 30 * 86_400_000)) {
      problems.add(
        'EVENTS_RETENTION',
        `EVENTS_RETENTION=${JSON.stringify(vars.EVENTS_RETENTION)} must be between 1s and 30d`,
      );
    }
    const eventsClientBufferBytes = parseSize(vars.EVENTS_CLIENT_BUFFER);
    if (
      eventsClientBufferBytes !== undefined &&
      (eventsClientBufferBytes < 1024 || eventsClientBufferBytes > 64 * 1024 * 1024)
    ) {
      problems.add(
        'EVENTS_CLIENT_BUFFER',
        `EVENTS_CLIENT_BUFFER=${JSON.stringify(vars.EVENTS_CLIENT_BUFFER)} must be between 1kb and 64mb`,
      );
    }
    return {
      eventsRetentionMs: eventsRetentionMs!,
      eventsKeepaliveMs: vars.EVENTS_KEEPALIVE_SECONDS * 1000,
      eventsClientBufferBytes: eventsClientBufferBytes!,
      eventsPollMs: vars.EVENTS_POLL_MS,
      quotas: {
        watchStreamsPerKey: parseCount(
          'WATCH_STREAMS_PER_KEY',
          vars.WATCH_STREAMS_PER_KEY,
          WATCH_STREAMS_RULE,
          problems,
        ),
        watchStreamsMax: parseCount('WATCH_STREAMS_MAX', vars.WATCH_STREAMS_MAX, WATCH_STREAMS_RULE, problems),
      },
    };
  },
};
