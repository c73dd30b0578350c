import { ArgumentMetadata, BadRequestException, Injectable, ValidationError, ValidationPipe } from '@nestjs/common';
import { asSentKeys } from './as-sent.decorator';
import { memberPath } from './member-path';
import { FieldError } from './problem-details.dto';

type Location = FieldError['in'];

/** A 400 that carries every invalid field; the problem details filter renders it with an `errors` array. */
export class RequestValidationException extends BadRequestException {
  constructor(
    readonly errors: FieldError[],
    detail = `Invalid request: ${errors.map((e) => e.detail).join('; ')}`,
  ) {
    super(detail);
  }
}

/** The fields class-validator rejected, flattened to dotted paths. */
function fieldErrors(errors: ValidationError[], location: Location, parent = ''): FieldError[] {
  return errors.flatMap((error) => {
    const field = parent ? `${parent}.${error.property}` : error.property;
    // Rules that share a message (an integer between 1 and 1000: IsInt, Min, Max) report it once.
    const own = [...new Set(Object.values(error.constraints ?? {}))].map((detail) => ({ field, in: location, detail }));
    return [...own, ...fieldErrors(error.children ?? [], location, field)];
  });
}

/** What class-validator found, before the pipe knows where the fields came from. */
class InvalidFields {
  constructor(readonly errors: ValidationError[]) {}
}

/**
 * How deep a body may nest arrays and objects, the body itself the first level: far deeper than an agent card needs,
 * and shallow enough for the steps after this pipe that recurse (Nest's, class-transformer's) to never run out of stack.
 */
const BODY_MAX_DEPTH = 64;

/** How much of a member's name a problem repeats. */
const MEMBER_NAME_SHOWN = 64;

/**
 * What makes a body unsafe to pass on, if anything: nesting deeper than BODY_MAX_DEPTH, or a member shaped to pollute
 * prototypes in code that merges objects (one named `__proto__`, or a `constructor` holding a `prototype`), refused
 * as Fastify refuses them by default. Agents' cards are served to other agents, so such members are not stored. The
 * answer names the body's field, and the member's path as the card checks write it (`agent_card.skills[1].x`).
 */
function unsafeMember(value: object, field = '', path = '', depth = 1): FieldError | undefined {
  if (depth > BODY_MAX_DEPTH) {
    return { field, in: 'body', detail: `${field} nests arrays and objects more than ${BODY_MAX_DEPTH} levels deep` };
  }
  const inArray = Array.isArray(value);
  for (const [key, member] of Object.entries(value) as [string, unknown][]) {
    // A name as sent may be long: the path names the member, it need not repeat it whole.
    const name = key.length > MEMBER_NAME_SHOWN ? `${key.slice(0, MEMBER_NAME_SHOWN)}…` : key;
    const at = inArray ? memberPath(path, Number(key)) : path ? memberPath(path, name) : name;
    const isObject = typeof member === 'object' && member !== null;
    if (key === '__proto__' || (key === 'constructor' && isObject && Object.hasOwn(member, 'prototype'))) {
      const what = key === '__proto__' ? 'a member named __proto__' : 'a constructor member holding a prototype';
      return { field: field || name, in: 'body', detail: `${at}: ${what} is not accepted` };
    }
    const found = isObject ? unsafeMember(member, field || name, at, depth + 1) : undefined;
    if (found) return found;
  }
  return undefined;
}

const LOCATIONS: Partial<Record<ArgumentMetadata['type'], Location>> = { body: 'body', query: 'query', param: 'path' };

/**
 * The global ValidationPipe: strips unknown fields, never converts types implicitly (a string "8080" is not a port),
 * insists that a body is a JSON object, and reports each bad field with where it was sent.
 */
@Injectable()
export class RequestValidationPipe extends ValidationPipe {
  /** The AsSent members of the bodies being validated, left as they are by stripProtoKeys. */
  private readonly keptAsSent = new WeakSet<object>();

  constructor() {
    super({
      whitelist: true,
      transform: true,
      forbidUnknownValues: true,
      validationError: { target: false, value: false },
      exceptionFactory: (errors) => new InvalidFields(errors),
    });
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const location = LOCATIONS[metadata.type];
    if (!location || !this.toValidate(metadata)) return value;
    if (location === 'body' && (typeof value !== 'object' || value === null || Array.isArray(value))) {
      throw new RequestValidationException(
        [{ field: '', in: 'body', detail: 'request body must be a JSON object' }],
        'The request body must be a JSON object (Content-Type: application/json).',
      );
    }
    if (location === 'body') {
      const unsafe = unsafeMember(value as object);
      if (unsafe) throw new RequestValidationException([unsafe]);
      for (const key of asSentKeys(metadata.metatype)) {
        const member = (value as Record<string | symbol, unknown>)[key];
        if (typeof member === 'object' && member !== null) this.keptAsSent.add(member);
      }
    }
    try {
      return await super.transform(value, metadata);
    } catch (thrown) {
      throw thrown instanceof InvalidFields
        ? new RequestValidationException(fieldErrors(thrown.errors, location))
        : thrown;
    }
  }

  /**
   * Nest deletes every member named `__proto__`, `constructor` or `prototype` before class-transformer sees the value;
   * in a label or card (AsSent) that would lose a member without a word. Those were checked by unsafeMember instead.
   */
  protected override stripProtoKeys(value: unknown): void {
    if (typeof value === 'object' && value !== null && this.keptAsSent.has(value)) return;
    super.stripProtoKeys(value);
  }
}
