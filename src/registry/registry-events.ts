import { Injectable, Logger } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { AgentInfo } from './dto/agent-info.dto';
import { Change, EventType } from './persistence/event-log';

/** What a change to the registry is: a new agent, a re-registration that changed it, a deregistration, an expiry. */
export type RegistryEventType = EventType;

/**
 * The names the registry's events are emitted under on the in-process bus (`@nestjs/event-emitter`): subscribe with
 * `@OnEvent(AGENT_REGISTERED)`, one decorator per name.
 */
export const AGENT_REGISTERED = 'agent.registered';
export const AGENT_UPDATED = 'agent.updated';
export const AGENT_DEREGISTERED = 'agent.deregistered';
export const AGENT_EXPIRED = 'agent.expired';

/** Each event type's name on the bus. */
export const REGISTRY_EVENT_NAMES: Readonly<Record<RegistryEventType, string>> = {
  registered: AGENT_REGISTERED,
  updated: AGENT_UPDATED,
  deregistered: AGENT_DEREGISTERED,
  expired: AGENT_EXPIRED,
};

/**
 * Emitted (synchronously, payload `{ revision }`) as soon as a write that changed the registry committed, before its
 * events: what the change feed (`GET /events`) reads the log on. Internal; extensions listen to the events.
 */
export const REGISTRY_COMMITTED = 'registry.committed';

/** One change as the registry's event bus carries it. */
export interface RegistryEvent {
  type: RegistryEventType;
  agentId: string;
  /** The agent after the change (registered, updated), as `GET /agents/{agent_id}` answers it. */
  agent?: AgentInfo;
  /** The agent before the change (updated, deregistered, expired). */
  previous?: AgentInfo;
  /** The change's revision in the event log: the `id` the watch stream (`GET /events`) gives the same event. */
  revision: number;
  /** When the change was committed, ISO 8601 (the writing replica's clock). */
  at: string;
}

/** A change as a write records it in the event log. */
export type CommittedChange = Change;

/**
 * Publishes the registry's committed changes on the in-process event bus. Called by the writers right after their
 * transaction committed: the change feed is woken at once; the events follow on a later turn of the event loop, one
 * per change in revision order, so that no listener (a slow one, a throwing one) delays or fails the write that made
 * them. A listener's error is logged, never rethrown. At most once, in this process only: a replica hears only the
 * changes it made, and a crash between the commit and the emit loses them (the watch stream, `GET /events`, is the
 * complete, resumable record across replicas).
 */
@Injectable()
export class RegistryEvents {
  private readonly logger = new Logger(RegistryEvents.name);

  constructor(private readonly bus: EventEmitter2) {}

  /** `changes` were committed under the revisions ending at `revision` (one each, in order), at `at` (epoch ms). */
  committed(changes: readonly CommittedChange[], revision: number, at: number): void {
    if (changes.length === 0) return;
    try {
      this.bus.emit(REGISTRY_COMMITTED, { revision });
    } catch (error) {
      this.logger.error(
        `A listener of ${REGISTRY_COMMITTED} failed`,
        error instanceof Error ? error.stack : String(error),
      );
    }
    const first = revision - changes.length + 1;
    const time = new Date(at).toISOString();
    const events: RegistryEvent[] = changes.map((change, i) => ({ ...change, revision: first + i, at: time }));
    setImmediate(() => {
      for (const event of events) this.emit(event);
    });
  }

  private emit(event: RegistryEvent): void {
    try {
      this.bus.emitAsync(REGISTRY_EVENT_NAMES[event.type], event).catch((error: unknown) => this.failed(event, error));
    } catch (error) {
      this.failed(event, error);
    }
  }

  private failed(event: RegistryEvent, error: unknown): void {
    this.logger.error(
      `A listener of ${REGISTRY_EVENT_NAMES[event.type]} (revision ${event.revision}) failed`,
      error instanceof Error ? error.stack : String(error),
    );
  }
}
