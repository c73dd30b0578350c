import {
  ArgumentsHost,
  Catch,
  ExceptionFilter,
  HttpException,
  HttpStatus,
  Inject,
  Logger,
  Optional,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { IncomingMessage, OutgoingHttpHeaders, ServerResponse, STATUS_CODES } from 'node:http';
import { APP_CONFIG } from '../config/environment';
import { HttpSection } from './http.config';
import { ChallengeException } from './challenge.exception';
import { UnsupportedContentEncodingException } from './json-body';
import { problem, PROBLEM_JSON, ProblemDetails, ValidationProblemDetails } from './problem-details.dto';
import { contextOf, rawRequest } from './request-context';
import { RequestValidationException } from './request-validation.pipe';
import { RetryLaterException } from './retry-later.exception';
import { TooManyRequestsException } from './too-many-requests.exception';

const UNEXPECTED = 'An unexpected error occurred.';

/** What both adapters send the filter's answers as. */
const PROBLEM_CONTENT_TYPE = `${PROBLEM_JSON}; charset=utf-8`;

/** A problem-details answer written below Nest (by a hook that runs before any route), as the filter writes it. */
export function writeProblem(
  response: ServerResponse,
  status: number,
  detail: string,
  headers: OutgoingHttpHeaders = {},
): void {
  const body = JSON.stringify(problem(status, detail));
  response.writeHead(status, {
    ...headers,
    'Content-Type': PROBLEM_CONTENT_TYPE,
    'Content-Length': Buffer.byteLength(body),
  });
  response.end(body);
}

/**
 * A problem-details answer as the bytes of an HTTP/1.1 response that closes its connection, for a socket no response
 * object wraps (a request Node's HTTP parser refused).
 */
export function rawProblem(status: number, detail: string): string {
  const body = JSON.stringify(problem(status, detail));
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
    `Content-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Connection: close\r\n\r\n' +
    body
  );
}

/** Errors raised below Nest (body parser, router) that carry their own client-error status. */
interface StatusError extends Error {
  status?: unknown;
  statusCode?: unknown;
}

function clientErrorStatus(error: unknown): number | undefined {
  // Not `instanceof Error`: Node's own errors (a request aborted mid-body) may come from another realm.
  if (typeof error !== 'object' || error === null) return undefined;
  const { status, statusCode } = error as StatusError;
  const code = typeof status === 'number' ? status : statusCode;
  return typeof code === 'number' && code >= 400 && code < 500 ? code : undefined;
}

/**
 * Maps an error raised below HTTP (a database driver's, say) to the exception it is answered as, or to undefined. The
 * module that knows such errors provides it (DatabaseModule: an outage is a 503 with Retry-After).
 */
export const ERROR_MAPPING = Symbol('ERROR_MAPPING');
export type ErrorMapping = (error: unknown) => HttpException | undefined;

/**
 * Turns every error into `application/problem+json` (RFC 9457). Client errors say what was wrong; an error that
 * ERROR_MAPPING maps (a database that cannot be reached: 503 with Retry-After) answers as it is mapped; anything
 * unexpected is logged with its stack and answered with a generic 500 that leaks nothing.
 */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger(ProblemDetailsFilter.name);

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    @Inject(APP_CONFIG) private readonly config: HttpSection,
    @Optional() @Inject(ERROR_MAPPING) private readonly mapError?: ErrorMapping,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const { httpAdapter } = this.adapterHost;
    const response: unknown = host.switchToHttp().getResponse();
    const error = this.mapped(exception) ?? exception;
    const request = host.switchToHttp().getRequest<IncomingMessage | { raw: IncomingMessage }>();
    const problem = this.toProblem(error, contextOf(rawRequest(request))?.requestId ?? '-');
    httpAdapter.setHeader(response, 'Content-Type', PROBLEM_JSON);
    if (error instanceof RetryLaterException || error instanceof TooManyRequestsException) {
      httpAdapter.setHeader(response, 'Retry-After', String(error.retryAfterSeconds));
    }
    if (error instanceof ChallengeException) httpAdapter.setHeader(response, 'WWW-Authenticate', error.challenge);
    if (error instanceof UnsupportedContentEncodingException) {
      httpAdapter.setHeader(response, 'Accept-Encoding', UnsupportedContentEncodingException.ACCEPTED);
    }
    // Serialised here: given an object, the adapter would reset the Content-Type to application/json.
    httpAdapter.reply(response, JSON.stringify(problem), problem.status);
  }

  /**
   * Only errors that carry no HTTP status of their own are mapped: a client that hangs up mid-body raises ECONNABORTED
   * too, with status 400.
   */
  private mapped(exception: unknown): HttpException | undefined {
    if (exception instanceof HttpException || clientErrorStatus(exception) !== undefined) return undefined;
    return this.mapError?.(exception);
  }

  private toProblem(exception: unknown, requestId: string): ProblemDetails | ValidationProblemDetails {
    if (exception instanceof RequestValidationException) {
      return { ...problem(HttpStatus.BAD_REQUEST, exception.message), errors: exception.errors };
    }
    const status = exception instanceof HttpException ? exception.getStatus() : clientErrorStatus(exception);
    if (status === HttpStatus.PAYLOAD_TOO_LARGE) {
      return problem(status, `The request body exceeds the limit of ${this.config.bodyLimitBytes} bytes.`);
    }
    if (status !== undefined && status < 500) {
      return problem(status, (exception as Error).message);
    }
    if (exception instanceof RetryLaterException) {
      // An outage, overload or shutdown: expected, and the client retries; one line, no stack.
      this.logger.warn(`${exception.logLine} (request ${requestId})`);
      return problem(status!, exception.message);
    }
    this.logger.error(`Request ${requestId} failed`, exception instanceof Error ? exception.stack : String(exception));
    // A 5xx we raised on purpose (503, say) explains itself; anything else leaks nothing.
    return status !== undefined && status !== 500
      ? problem(status, (exception as Error).message)
      : problem(HttpStatus.INTERNAL_SERVER_ERROR, UNEXPECTED);
  }
}
