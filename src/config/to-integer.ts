/**
 * A class-transformer `@Transform` for integers that arrive as strings (environment, query): a string of digits
 * becomes a number; anything else is left as it came, for `@IsInt()` to reject by name.
 */
export function toInteger({ value }: { value: unknown }): unknown {
  return typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
}
