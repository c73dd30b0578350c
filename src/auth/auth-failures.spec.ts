import { Logger } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { AuthFailures, AuthFailuresBlockedException, MAX_COUNTED_ADDRESSES } from './auth-failures';

const from = (address: string): IncomingMessage =>
  ({ method: 'GET', url: '/agents?secret=nope', socket: { remoteAddress: address } }) as unknown as IncomingMessage;

describe('AuthFailures', () => {
  let now: number;
  let failures: AuthFailures;
  let warn: jest.SpyInstance;
  beforeEach(() => {
    now = 1_000_000;
    failures = new AuthFailures({ limit: 2, windowMs: 60_000 }, () => now);
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  it('blocks an address once it has `limit` failures in its window, other addresses not, until the window ends', () => {
    failures.admit(from('10.0.0.7'));
    failures.fail(from('10.0.0.7'));
    now += 10_000;
    failures.fail(from('10.0.0.7'));
    expect(() => failures.admit(from('10.0.0.7'))).toThrow(AuthFailuresBlockedException);
    try {
      failures.admit(from('10.0.0.7'));
    } catch (error) {
      expect((error as AuthFailuresBlockedException).retryAfterSeconds).toBe(50);
      expect((error as AuthFailuresBlockedException).getStatus()).toBe(429);
    }
    expect(() => failures.admit(from('10.0.0.8'))).not.toThrow();
    now += 50_000;
    expect(() => failures.admit(from('10.0.0.7'))).not.toThrow();
  });

  it('logs at most two lines an address a window, without the query, and forgets past windows', () => {
    for (let i = 0; i < 100; i++) failures.fail(from('10.0.0.7'));
    expect(warn.mock.calls.map(([line]) => String(line))).toEqual([
      expect.stringMatching(/^Failed authentication from 10\.0\.0\.7: GET \/agents without a key/),
      expect.stringMatching(
        /^2 failed authentications from 10\.0\.0\.7 in the last 0 s: its requests without a known key get 429 for 60 s/,
      ),
    ]);
    expect(warn.mock.calls.flat().join(' ')).not.toContain('secret=nope');
    expect(failures.size).toBe(1);
    now += 60_000;
    failures.admit(from('10.0.0.8'));
    expect(failures.size).toBe(0);
  });

  it('counts at most MAX_COUNTED_ADDRESSES addresses, however many an attacker rotates through, and still blocks', () => {
    const rotated = MAX_COUNTED_ADDRESSES + 50_000;
    for (let i = 0; i < rotated; i++) {
      const address = `2001:db8::${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}`;
      failures.fail(from(address));
      if (i % 10_000 === 0) now += 1; // the same window, as a fast attacker's
    }
    expect(failures.size).toBe(MAX_COUNTED_ADDRESSES);
    // The newest addresses are still counted: one more failure blocks the last.
    const last = `2001:db8::${((rotated - 1) >>> 16).toString(16)}:${((rotated - 1) & 0xffff).toString(16)}`;
    failures.fail(from(last));
    expect(() => failures.admit(from(last))).toThrow(AuthFailuresBlockedException);
  });
});
