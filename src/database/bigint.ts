/**
 * A bigint as the driver returns it: PostgreSQL's (a bigint column, `count(*)`) arrives as a string, so that no
 * value past 2^53 loses precision; SQLite's as a number. Every one the registry stores or counts (epoch
 * milliseconds, counts) is far below 2^53.
 */
export type StoredBigint = number | string;

/** A bigint read from either database, as a number. */
export function bigintValue(value: StoredBigint): number {
  return Number(value);
}

/** A nullable bigint read from either database: undefined for null. */
export function optionalBigint(value: StoredBigint | null): number | undefined {
  return value === null ? undefined : Number(value);
}
