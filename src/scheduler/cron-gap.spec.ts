import { CronTime } from 'cron';
import { longestCronGapMs } from './cron-gap';

/** The longest gap between `runs` consecutive runs, by the package's own search (slow: a few hundred at most). */
function sampledGapMs(expression: string, runs: number): number {
  const time = new CronTime(expression, 'UTC');
  let previous = time.getNextDateFrom(new Date(Date.UTC(2026, 0, 1))).toJSDate();
  let longest = 0;
  for (let i = 0; i < runs; i++) {
    const next = time.getNextDateFrom(previous).toJSDate();
    longest = Math.max(longest, next.getTime() - previous.getTime());
    previous = next;
  }
  return longest;
}

describe('longestCronGapMs', () => {
  it.each([
    ['* * * * * *', 1_000],
    ['*/10 * * * * *', 10_000],
    ['0 * * * * *', 60_000],
    ['0 15,45 * * * *', 1_800_000],
    ['0 0 3 * * *', 86_400_000],
    ['0 30 9 * * 1-5', 3 * 86_400_000],
    ['0 0 0 13 * 5', 7 * 86_400_000],
    ['0 0 12 * 2-4 *', 277 * 86_400_000],
  ])('%s: %d ms, as the cron package schedules it', (expression, gap) => {
    expect(longestCronGapMs(expression)).toBe(gap);
    expect(sampledGapMs(expression, 120)).toBe(gap);
  });

  it('finds a gap a walk of the first runs misses: every second until noon, then nothing until midnight', () => {
    expect(longestCronGapMs('* * 0-11 * * *')).toBe(12 * 3_600_000 + 1000);
  });
});
