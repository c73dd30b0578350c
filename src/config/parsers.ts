import { applyDecorators } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { IsInt, Max, Min } from 'class-validator';
import { toInteger } from './to-integer';
import type { Problems } from './environment';

/** An integer variable from `min` to `max`, with one message that names the range. */
export function IntegerBetween(min: number, max: number, what = 'an integer'): PropertyDecorator {
  const message = `must be ${what} between ${min} and ${max}`;
  return applyDecorators(Transform(toInteger), IsInt({ message }), Min(min, { message }), Max(max, { message }));
}

/** A size in bytes: `65536`, `64kb`, `1mb` (1024-based). */
export const SIZE = /^(\d+)\s*(b|kb|mb)?$/i;
export const SIZE_RULE = 'must be a size in bytes, optionally with a unit: 65536, 64kb, 1mb';
const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 * 1024 };

export function parseSize(value: string): number | undefined {
  const match = SIZE.exec(value.trim());
  return match ? Number(match[1]) * SIZE_UNITS[(match[2] ?? 'b').toLowerCase()] : undefined;
}

/** `90`, `90s`, `15m`, `1h`, `7d`, `500ms` (a bare number is seconds). */
export const DURATION = /^(\d+)\s*(ms|s|m|h|d)?$/i;
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration in milliseconds. */
export function parseDuration(value: string): number | undefined {
  const match = DURATION.exec(value.trim());
  return match ? Number(match[1]) * DURATION_UNITS[(match[2] ?? 's').toLowerCase()] : undefined;
}

/** At most `limit` requests in each window of `windowMs`. */
export interface Rate {
  limit: number;
  windowMs: number;
}

/** `N/duration` (at most N requests in each window of that duration), or `off`. */
export const RATE = /^(off|\d+\s*\/\s*\d+\s*(ms|s|m|h)?)$/i;
export const RATE_RULE = 'must be a number of requests per duration, such as 100/1s or 10/10s, or off';

/** A rate that matched RATE; undefined for `off`. */
export function parseRate(value: string): Rate | undefined {
  if (value.trim().toLowerCase() === 'off') return undefined;
  const [limit, window] = value.split('/');
  return { limit: Number(limit.trim()), windowMs: parseDuration(window)! };
}

/** A count, or `off`. */
export const COUNT_OR_OFF = /^\s*(off|\d{1,9})\s*$/i;
export const COUNT_MAX = 100_000_000;

/** The rule a count variable states: `a number of <things> between 1 and 100000000, or off`. */
export function countRule(things: string): string {
  return `a number of ${things} between 1 and ${COUNT_MAX}, or off`;
}

/** A count variable that matched COUNT_OR_OFF: its count, undefined for `off`; out of range is a problem. */
export function parseCount(variable: string, value: string, rule: string, problems: Problems): number | undefined {
  if (!COUNT_OR_OFF.test(value) || value.trim().toLowerCase() === 'off') return undefined;
  const count = Number(value.trim());
  if (count < 1 || count > COUNT_MAX) problems.add(variable, `${variable}=${JSON.stringify(value)} must be ${rule}`);
  return count;
}
