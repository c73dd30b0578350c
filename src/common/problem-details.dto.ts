import { ApiProperty } from '@nestjs/swagger';
import { STATUS_CODES } from 'node:http';

export const PROBLEM_JSON = 'application/problem+json';

/** An RFC 9457 problem details body: every 4xx and 5xx answer (but the health documents) is one of these. */
export class ProblemDetails {
  /**
   * A URI reference naming the problem type; `about:blank` means the HTTP status says it all.
   * @example about:blank
   */
  type!: string;

  /**
   * A short summary of the problem type: the HTTP reason phrase.
   * @example "Not Found"
   */
  title!: string;

  /**
   * The HTTP status code.
   * @example 404
   */
  @ApiProperty({ type: 'integer' })
  status!: number;

  /**
   * What went wrong with this request, for a human.
   * @example "Agent not found: planner-7"
   */
  detail!: string;
}

/**
 * Where an invalid field was sent. Listed for the docs: the Swagger plugin would list a union's members in the order
 * the compiler happened to create them, which moves when unrelated files do. (Decorated properties come first in the
 * schema, so `field`, before it, is decorated too.)
 */
const FIELD_LOCATIONS = ['body', 'query', 'path', 'header'] as const;

/** One invalid input field. */
export class FieldError {
  /**
   * The name of the field, query parameter or path parameter.
   * @example port
   */
  @ApiProperty()
  field!: string;

  /**
   * Where the field was sent.
   * @example body
   */
  @ApiProperty({ enum: FIELD_LOCATIONS })
  in!: (typeof FIELD_LOCATIONS)[number];

  /**
   * Why the value was refused.
   * @example "port must be an integer between 1 and 65535"
   */
  detail!: string;
}

/** Problem details for a request whose fields failed validation, naming each bad field. */
export class ValidationProblemDetails extends ProblemDetails {
  /**
   * Every invalid field; absent when the body could not be parsed at all.
   */
  errors?: FieldError[];
}

/** A problem details body for an HTTP status; `about:blank` types take the reason phrase as their title. */
export function problem(status: number, detail: string): ProblemDetails {
  return { type: 'about:blank', title: STATUS_CODES[status] ?? 'Error', status, detail };
}
