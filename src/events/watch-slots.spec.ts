import { loadConfig } from '../app.config';
import { WatchSlots } from './watch-slots';

const slotsWith = (env: NodeJS.ProcessEnv): WatchSlots => new WatchSlots(loadConfig(env));
const reader = (name: string) => ({ name, role: 'reader' as const });

describe('WatchSlots', () => {
  it('counts each key against WATCH_STREAMS_PER_KEY and everyone against WATCH_STREAMS_MAX', () => {
    const slots = slotsWith({ WATCH_STREAMS_PER_KEY: '2', WATCH_STREAMS_MAX: '4' });
    const a1 = slots.take(reader('a'));
    slots.take(reader('a'));
    expect(() => slots.take(reader('a'))).toThrow(/Key a has 2 event streams open on this replica/);
    slots.take(reader('b'));
    slots.take(undefined);
    expect(slots.open()).toBe(4);
    expect(() => slots.take(reader('c'))).toThrow(/This replica serves 4 event streams, its WATCH_STREAMS_MAX/);
    a1();
    a1();
    expect(slots.open()).toBe(3);
    expect(slots.open('a')).toBe(1);
    slots.take(reader('a'));
  });

  it('gives admin keys no per-key limit, and off no limit at all', () => {
    const slots = slotsWith({ WATCH_STREAMS_PER_KEY: '1', WATCH_STREAMS_MAX: 'off' });
    for (let i = 0; i < 5; i++) slots.take({ name: 'ops', role: 'admin' });
    for (let i = 0; i < 5; i++) slots.take(undefined);
    expect(slots.open()).toBe(10);
    expect(slots.open('ops')).toBe(0);
  });
});
