import { EntityManager } from '@mikro-orm/knex';
import { GoneException, Injectable } from '@nestjs/common';
import { eventAt, Position, positionAt, revisionState } from '../registry/persistence/event-log';

const RELIST = 'list the agents again and watch from the X-Registry-Position of that list.';

/** Where a watch starts: after `since`, with the registry at `revision` (`position`) when it opens. */
export interface WatchStart {
  since: number;
  revision: number;
  position: string;
}

/** What a new watch reads of the event log before its stream opens. */
@Injectable()
export class WatchStarts {
  constructor(private readonly em: EntityManager) {}

  /**
   * A watch after `requested` (after the registry's revision when none), or a 410 when the log cannot resume it.
   */
  async after(requested: Position | undefined): Promise<WatchStart> {
    const em = this.em.fork();
    const { revision, prunedThrough } = await revisionState(em);
    await checkResumable(em, requested, revision, prunedThrough);
    const position = await positionAt(em, revision);
    return { since: requested?.revision ?? revision, revision, position };
  }
}

/**
 * A 410 unless the log holds the events after `requested` as the client knew them. With a fingerprint, the event at
 * that revision must still be there, and be the same event: a restored or failed-over database reuses revisions for
 * other events, and resuming from the number alone would hand the client another history as if it were the rest of
 * its own. Revision 0 precedes every history. A plain revision cannot be checked: only kept and not ahead.
 */
async function checkResumable(
  em: EntityManager,
  requested: Position | undefined,
  revision: number,
  prunedThrough: number,
): Promise<void> {
  if (requested === undefined) return;
  const since = requested.revision;
  if (since < prunedThrough) {
    throw new GoneException(
      `Events after revision ${since} are no longer kept (the oldest kept is revision ${prunedThrough}): ${RELIST}`,
    );
  }
  if (since > revision) {
    throw new GoneException(
      `Revision ${since} is ahead of this registry's (${revision}); it was not made by this registry's database: ` +
        RELIST,
    );
  }
  if (requested.fingerprint === undefined || since === 0) return;
  const event = await eventAt(em, since);
  if (event === undefined) {
    throw new GoneException(
      `The event at revision ${since} is no longer kept, so resuming after it cannot be checked: ${RELIST}`,
    );
  }
  if (event.fingerprint !== requested.fingerprint) {
    throw new GoneException(
      `The event log was replaced (a restore from a backup, or a failover to a replica that lagged): its event at ` +
        `revision ${since} is not the one this position names, and the events after it are another history's: ${RELIST}`,
    );
  }
}
