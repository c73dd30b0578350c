/**
 * Whether a value is an error, told by its shape rather than `instanceof`: fetch's errors come from another realm than
 * a test's (or a bundle's) classes. Not exported by the package: its own modules share it.
 */
export function isError(value: unknown): value is Error & { code?: string } {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { name?: unknown }).name === 'string' &&
    typeof (value as { message?: unknown }).message === 'string'
  );
}
