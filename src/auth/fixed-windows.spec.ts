import { FixedWindows, secondsLeft, windowText } from './fixed-windows';

describe('FixedWindows', () => {
  let now: number;
  beforeEach(() => (now = 1_000_000));

  it('counts per key in a window that starts at its first count, and starts afresh once it has passed', () => {
    const windows = new FixedWindows(() => now);
    expect(windows.current('a')).toBeUndefined();
    windows.count('a', 60_000);
    now += 10_000;
    expect(windows.count('a', 60_000)).toEqual({ startedAt: 1_000_000, endsAt: 1_060_000, count: 2 });
    expect(secondsLeft(windows.current('a')!, now)).toBe(50);
    now += 50_000;
    expect(windows.current('a')).toBeUndefined();
    expect(windows.count('a', 60_000)).toEqual({ startedAt: 1_060_000, endsAt: 1_120_000, count: 1 });
  });

  it('forgets past windows', () => {
    const windows = new FixedWindows(() => now);
    for (const key of ['a', 'b', 'c']) windows.count(key, 1_000);
    now += 60_000;
    windows.current('d');
    expect(windows.size).toBe(0);
  });

  it('keeps at most maxKeys: a new key drops the oldest window, a window started again counts as new', () => {
    const windows = new FixedWindows(() => now, 3);
    windows.count('a', 1_000);
    now += 500;
    windows.count('b', 60_000);
    windows.count('c', 60_000);
    now += 1_000;
    // a's window has passed: its next one is the newest.
    windows.count('a', 60_000);
    windows.count('d', 60_000);
    expect(windows.size).toBe(3);
    expect(windows.current('b')).toBeUndefined();
    for (const key of ['c', 'a', 'd']) expect(windows.current(key)?.count).toBe(1);
  });

  it('names windows as the 429s do', () => {
    expect(windowText(1_000)).toBe('a second');
    expect(windowText(60_000)).toBe('60 seconds');
  });
});
