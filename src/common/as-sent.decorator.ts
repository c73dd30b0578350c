import { applyDecorators } from '@nestjs/common';
import { Transform, Type } from 'class-transformer';

const AS_SENT_KEYS = Symbol('asSentKeys');

/**
 * Keeps a free-form JSON member (labels, an agent card) exactly as it was sent. class-transformer would rebuild it
 * member by member, dropping members named like Object's methods (`toString`, `valueOf`...) and failing on an own
 * `constructor`; Nest's ValidationPipe deletes every `constructor` and `prototype` member before. Told the member is
 * a Boolean, class-transformer stops at `Boolean(value)` without reading a member, and the transform puts back the
 * value as sent; RequestValidationPipe skips these members when it strips prototype keys, after refusing the shapes
 * that pollute prototypes. Only for members of the body's own class: the pipe does not look into nested DTOs.
 */
export function AsSent(): PropertyDecorator {
  return applyDecorators(
    (target: object, key: string | symbol) => {
      Reflect.defineMetadata(AS_SENT_KEYS, [...asSentKeys(target.constructor), key], target.constructor);
    },
    Type(() => Boolean),
    Transform(({ obj, key }: { obj: Record<string, unknown>; key: string }) => obj[key]),
  );
}

/** The members of a class marked AsSent, its parents' included. */
export function asSentKeys(type: unknown): (string | symbol)[] {
  return (Reflect.getMetadata(AS_SENT_KEYS, type as object) as (string | symbol)[] | undefined) ?? [];
}
