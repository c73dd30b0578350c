import { buildMessage, ValidateBy, ValidationOptions } from 'class-validator';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Whether text can be stored and read back unchanged (see IsStorableText). */
export function isStorableText(value: string): boolean {
  return !value.includes('\0') && !LONE_SURROGATE.test(value);
}

/**
 * Rejects text that cannot be stored and read back unchanged: NUL characters (SQLite stops reading a statement at
 * one, PostgreSQL refuses them) and unpaired UTF-16 surrogates (stored as U+FFFD).
 */
export function IsStorableText(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isStorableText',
      validator: {
        validate: (value: unknown) => typeof value !== 'string' || isStorableText(value),
        defaultMessage: buildMessage(
          (each) => `${each}$property must not contain NUL characters or unpaired surrogates`,
          options,
        ),
      },
    },
    options,
  );
}
