import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Inject, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import {
  DATABASE_RETRY_AFTER_SECONDS,
  DATABASE_UNAVAILABLE,
  databaseUnavailableReason,
} from '../database/database-unavailable';
import { problem, PROBLEM_JSON, ProblemDetails, ValidationProblemDetails } from './problem-details.dto';
import { RequestValidationException } from './request-validation.pipe';
import { RetryLaterException } from './retry-later.exception';

const UNEXPECTED = 'An unexpected error occurred.';

/** Errors raised below Nest (body parser, router) that carry their own client-error status. */
interface StatusError extends Error {
  status?: unknown;
  statusCode?: unknown;
}

function clientErrorStatus(error: unknown): number | undefined {
  if (!(error instanceof Error)) return undefined;
  const { status, statusCode } = error as StatusError;
  const code = typeof status === 'number' ? status : statusCode;
  return typeof code === 'number' && code >= 400 && code < 500 ? code : undefined;
}

/**
 * Turns every error into `application/problem+json` (RFC 9457). Client errors say what was wrong; a database that
 * cannot be reached is a 503 with Retry-After; anything unexpected is logged with its stack and answered with a
 * generic 500 that leaks nothing.
 */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger(ProblemDetailsFilter.name);

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const { httpAdapter } = this.adapterHost;
    const response: unknown = host.switchToHttp().getResponse();
    // Only errors that carry no HTTP status of their own can be outages: a client that hangs up mid-body raises
    // ECONNABORTED too, with status 400.
    const hasStatus = exception instanceof HttpException || clientErrorStatus(exception) !== undefined;
    const outage = hasStatus ? undefined : databaseUnavailableReason(exception);
    const problem = outage ? this.outageProblem(outage) : this.toProblem(exception);
    httpAdapter.setHeader(response, 'Content-Type', PROBLEM_JSON);
    const retryAfter = outage
      ? DATABASE_RETRY_AFTER_SECONDS
      : exception instanceof RetryLaterException
        ? exception.retryAfterSeconds
        : undefined;
    if (retryAfter !== undefined) httpAdapter.setHeader(response, 'Retry-After', String(retryAfter));
    // Serialised here: given an object, the adapter would reset the Content-Type to application/json.
    httpAdapter.reply(response, JSON.stringify(problem), problem.status);
  }

  /** An outage is not a bug: 503 with Retry-After, and one log line with the reason but no stack, SQL or values. */
  private outageProblem(reason: string): ProblemDetails {
    this.logger.warn(`Database unavailable: ${reason}`);
    return problem(HttpStatus.SERVICE_UNAVAILABLE, DATABASE_UNAVAILABLE);
  }

  private toProblem(exception: unknown): ProblemDetails | ValidationProblemDetails {
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
      // Overload or shutdown: expected, and the client retries; no stack.
      this.logger.warn(`Answered 503: ${exception.message}`);
      return problem(status!, exception.message);
    }
    this.logger.error('Request failed', exception instanceof Error ? exception.stack : String(exception));
    // A 5xx we raised on purpose (503, say) explains itself; anything else leaks nothing.
    return status !== undefined && status !== 500
      ? problem(status, (exception as Error).message)
      : problem(HttpStatus.INTERNAL_SERVER_ERROR, UNEXPECTED);
  }
}
