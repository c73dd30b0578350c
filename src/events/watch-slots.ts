import { Inject, Injectable } from '@nestjs/common';
import { Principal } from '../auth/auth.guard';
import { mayWriteAny } from '../auth/ownership';
import { QuotaExceededException } from '../common/quota-exceeded.exception';
import { APP_CONFIG } from '../config/environment';
import { EventsSection } from './events.config';

/**
 * The event streams this replica serves, per key (WATCH_STREAMS_PER_KEY) and in all (WATCH_STREAMS_MAX): each open
 * stream holds a socket, a buffer of up to EVENTS_CLIENT_BUFFER and a place in every fan-out. Counted per replica,
 * in memory: a stream lives on one replica, and a replica's own resources are what the limits protect. Admin keys
 * have no per-key limit; streams without a key (protected mode, auth off) count only in the total.
 */
@Injectable()
export class WatchSlots {
  private total = 0;
  private readonly perKey = new Map<string, number>();

  constructor(@Inject(APP_CONFIG) private readonly config: EventsSection) {}

  /** Takes a slot for a stream of `caller`, or throws the 429 naming the limit; the function returned frees it. */
  take(caller: Principal | undefined): () => void {
    const { watchStreamsPerKey, watchStreamsMax } = this.config.quotas;
    const key = mayWriteAny(caller) ? undefined : caller.name;
    const open = key === undefined ? 0 : (this.perKey.get(key) ?? 0);
    if (key !== undefined && watchStreamsPerKey !== undefined && open >= watchStreamsPerKey) {
      throw new QuotaExceededException(
        `Key ${key} has ${open} event streams open on this replica, its WATCH_STREAMS_PER_KEY: close one first ` +
          '(one stream with filters, or none, can watch many agents).',
      );
    }
    if (watchStreamsMax !== undefined && this.total >= watchStreamsMax) {
      throw new QuotaExceededException(
        `This replica serves ${this.total} event streams, its WATCH_STREAMS_MAX: watch from another replica, or ` +
          'when a stream has closed.',
      );
    }
    this.total++;
    if (key !== undefined) this.perKey.set(key, open + 1);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.total--;
      if (key === undefined) return;
      const left = (this.perKey.get(key) ?? 1) - 1;
      if (left === 0) this.perKey.delete(key);
      else this.perKey.set(key, left);
    };
  }

  /** Streams holding a slot now: in all, and of one key. */
  open(key?: string): number {
    return key === undefined ? this.total : (this.perKey.get(key) ?? 0);
  }
}
