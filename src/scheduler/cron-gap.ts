import { CronTime } from 'cron';

const DAY_MS = 86_400_000;
/** Long enough for every pattern of months, days of the month and weekdays, leap years included. */
const SCAN_DAYS = 8 * 366;

/**
 * The longest time, in milliseconds, between two consecutive runs of a cron expression (Infinity when it runs at most
 * once in eight years), read in UTC. Computed from the parsed fields: the `cron` package's own next-run search takes
 * about half a millisecond a call, and walking a per-second schedule over a year that way would take hours.
 * Day matching follows the package (`CronTime.getNextDateFrom`): when both the day of the month and the weekday are
 * restricted, a day matching either runs.
 */
export function longestCronGapMs(expression: string): number {
  const time = new CronTime(expression, 'UTC') as unknown as Fields;
  const seconds = keys(time.second);
  const minutes = keys(time.minute);
  const hours = keys(time.hour);
  const ofDay: number[] = [];
  for (const h of hours) for (const m of minutes) for (const s of seconds) ofDay.push((h * 3600 + m * 60 + s) * 1000);
  ofDay.sort((a, b) => a - b);
  let longest = 0;
  for (let i = 1; i < ofDay.length; i++) longest = Math.max(longest, ofDay[i] - ofDay[i - 1]);

  const everyDayOfMonth = Object.keys(time.dayOfMonth).length === 31;
  const everyWeekday = Object.keys(time.dayOfWeek).length === 7;
  const everyMonth = Object.keys(time.month).length === 12;
  const start = Date.UTC(2026, 0, 1);
  let previousDay: number | undefined;
  for (let day = 0; day < SCAN_DAYS; day++) {
    const date = new Date(start + day * DAY_MS);
    if (!everyMonth && !(date.getUTCMonth() + 1 in time.month)) continue;
    const inDayOfMonth = date.getUTCDate() in time.dayOfMonth;
    const inWeekday = date.getUTCDay() in time.dayOfWeek;
    const skipped =
      (!inDayOfMonth && !everyDayOfMonth && !(inWeekday && !everyWeekday)) ||
      (!inWeekday && !everyWeekday && !(inDayOfMonth && !everyDayOfMonth));
    if (skipped) continue;
    if (previousDay !== undefined) {
      longest = Math.max(longest, (day - previousDay) * DAY_MS - ofDay[ofDay.length - 1] + ofDay[0]);
    }
    previousDay = day;
  }
  return previousDay === undefined || longest === 0 ? Infinity : longest;
}

interface Fields {
  second: Record<number, boolean>;
  minute: Record<number, boolean>;
  hour: Record<number, boolean>;
  dayOfMonth: Record<number, boolean>;
  month: Record<number, boolean>;
  dayOfWeek: Record<number, boolean>;
}

function keys(field: Record<number, boolean>): number[] {
  return Object.keys(field).map(Number);
}

/** A gap for a message: "90 s", "36 h". */
export function gapText(ms: number): string {
  if (!Number.isFinite(ms)) return 'eight years or more';
  return ms < 7_200_000 ? `${ms / 1000} s` : `${Math.round(ms / 3_600_000)} h`;
}
