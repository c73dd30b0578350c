import { ArgumentMetadata, BadRequestException, Injectable, ValidationError, ValidationPipe } from '@nestjs/common';
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

const LOCATIONS: Partial<Record<ArgumentMetadata['type'], Location>> = { body: 'body', query: 'query', param: 'path' };

/**
 * The global ValidationPipe: strips unknown fields, never converts types implicitly (a string "8080" is not a port),
 * insists that a body is a JSON object, and reports each bad field with where it was sent.
 */
@Injectable()
export class RequestValidationPipe extends ValidationPipe {
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
    try {
      return await super.transform(value, metadata);
    } catch (thrown) {
      throw thrown instanceof InvalidFields
        ? new RequestValidationException(fieldErrors(thrown.errors, location))
        : thrown;
    }
  }
}
