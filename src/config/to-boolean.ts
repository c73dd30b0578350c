const TRUE = ['true', '1', 'yes', 'on'];
const FALSE = ['false', '0', 'no', 'off'];

/**
 * A class-transformer `@Transform` for booleans that arrive as strings (environment, query): accepts
 * true/false, 1/0, yes/no, on/off in any case (Python's requests sends `True`). Anything else is left as it came,
 * for `@IsBoolean()` to reject by name.
 */
export function toBoolean({ value }: { value: unknown }): unknown {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  return TRUE.includes(v) ? true : FALSE.includes(v) ? false : value;
}
