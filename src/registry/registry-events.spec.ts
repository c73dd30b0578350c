import { Logger } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import {
  AGENT_DEREGISTERED,
  AGENT_REGISTERED,
  REGISTRY_COMMITTED,
  RegistryEvent,
  RegistryEvents,
} from './registry-events';

describe('RegistryEvents', () => {
  let bus: EventEmitter2;
  let events: RegistryEvents;
  let logged: jest.SpyInstance;
  const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

  beforeEach(() => {
    bus = new EventEmitter2();
    events = new RegistryEvents(bus);
    logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  it('signals the commit at once, then emits one event per change, numbered up to the revision', async () => {
    const heard: string[] = [];
    bus.on(REGISTRY_COMMITTED, (payload: { revision: number }) => heard.push(`committed ${payload.revision}`));
    bus.on(AGENT_REGISTERED, (e: RegistryEvent) => heard.push(`${e.type} ${e.agentId} ${e.revision} ${e.at}`));
    bus.on(AGENT_DEREGISTERED, (e: RegistryEvent) => heard.push(`${e.type} ${e.agentId} ${e.revision}`));
    events.committed(
      [
        { type: 'registered', agentId: 'a' },
        { type: 'deregistered', agentId: 'b' },
      ],
      12,
      Date.UTC(2026, 11, 7),
    );
    expect(heard).toEqual(['committed 12']);
    await nextTurn();
    expect(heard).toEqual(['committed 12', 'registered a 11 2026-12-07T00:00:00.000Z', 'deregistered b 12']);
  });

  it('emits nothing for a write that changed nothing', async () => {
    const listener = jest.fn();
    bus.on(REGISTRY_COMMITTED, listener);
    events.committed([], 3, 0);
    await nextTurn();
    expect(listener).not.toHaveBeenCalled();
  });

  it('logs a listener that throws or rejects, and still emits the next events', async () => {
    const heard: string[] = [];
    bus.on(REGISTRY_COMMITTED, () => {
      throw new Error('sync');
    });
    // The point: a listener whose promise rejects.
    // eslint-disable-next-line @typescript-eslint/no-misused-promises
    bus.on(AGENT_REGISTERED, (e: RegistryEvent) => {
      heard.push(e.agentId);
      if (e.agentId === 'a') throw new Error('boom');
      return Promise.reject(new Error('later'));
    });
    expect(() =>
      events.committed(
        [
          { type: 'registered', agentId: 'a' },
          { type: 'registered', agentId: 'b' },
        ],
        2,
        0,
      ),
    ).not.toThrow();
    await nextTurn();
    await nextTurn();
    expect(heard).toEqual(['a', 'b']);
    expect(logged).toHaveBeenCalledTimes(3);
  });
});
