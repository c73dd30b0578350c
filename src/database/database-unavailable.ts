import { RetryLaterException } from '../common/retry-later.exception';

/** The 503 answer's detail while the database is unavailable. */
export const DATABASE_UNAVAILABLE = 'The database is unavailable; retry shortly.';

/** Seconds a client should wait before retrying while the database is unavailable (the Retry-After header). */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

/** What an outage error becomes: a 503 with Retry-After, logged with its reason (a code, never the SQL). */
export class DatabaseUnavailableException extends RetryLaterException {
  constructor(reason: string) {
    super(DATABASE_UNAVAILABLE, DATABASE_RETRY_AFTER_SECONDS, `Database unavailable: ${reason}`);
  }
}

/**
 * PostgreSQL SQLSTATEs that mean "the database cannot serve right now", not "this request is wrong": connection
 * exceptions (class 08), insufficient resources (class 53: too many connections, disk full), shutdown and
 * restart (57P01–57P03), a statement cancelled by statement_timeout (57014), a server that turned read-only
 * (25006: connected to a standby after a failover), and a deadlock or serialization failure that persisted through
 * the writer's retries (40P01, 40001).
 */
const UNAVAILABLE_SQLSTATE = /^(08...|53...|57P0[123]|57014|25006|40P01|40001)$/;

/**
 * SQLite: the file is locked by another process beyond busy_timeout. (SQLITE_LOCKED, a conflict within one
 * connection, would be a bug: a 500.)
 */
const UNAVAILABLE_SQLITE = new Set(['SQLITE_BUSY']);

/** Node's socket errors while reaching the database server. */
const UNAVAILABLE_SOCKET = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

/**
 * Errors that node-postgres and knex raise without a code. Matching their messages is the only way to tell them
 * apart; each is the client's own fixed text, and the outage tests and the unit spec cover them.
 */
const UNAVAILABLE_MESSAGE = new RegExp(
  // Whole messages; knex prefixes a failed query's message with its SQL and ' - '.
  `(^| - )(${[
    'Connection terminated',
    'Connection terminated unexpectedly',
    'Connection terminated due to connection timeout',
    'Connection ended unexpectedly',
    'Query read timeout',
    // node-postgres' connect timeout, as the error of a connection a transaction was opening.
    'timeout expired',
    'Client has encountered a connection error and is not queryable',
    'Knex: Timeout acquiring a connection\\. .*',
    'Unable to acquire a connection',
    // knex's answer to the statements of a transaction whose BEGIN failed (the connection broke or hung).
    'Transaction query already complete, run with DEBUG=knex:tx for more info',
  ].join('|')})$`,
);

interface CodedError {
  code?: unknown;
  name?: unknown;
  message?: unknown;
  cause?: unknown;
}

/**
 * Why the database is unavailable, when `error` says it is unreachable, overloaded or restarting (the request may
 * succeed if retried shortly, so it is answered 503, not 500): the error's code, or the client's fixed message.
 * Never the error's whole message, which may carry the SQL and its values. Follows `cause` chains.
 */
export function databaseUnavailableReason(error: unknown): string | undefined {
  // Not `instanceof Error`: socket errors can come from another realm (a vm context, a test sandbox).
  for (let current = error, depth = 0; typeof current === 'object' && current !== null && depth < 5; depth++) {
    const { code, name, message, cause } = current as CodedError;
    if (typeof code === 'string') {
      if (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_SQLITE.has(code) || UNAVAILABLE_SOCKET.has(code)) return code;
    }
    if (name === 'KnexTimeoutError') return 'Knex: Timeout acquiring a connection';
    const known = typeof message === 'string' ? UNAVAILABLE_MESSAGE.exec(message) : null;
    if (known) return known[2].replace(/\. .*/, '');
    current = cause;
  }
  return undefined;
}

/** An outage error as the 503 it answers (DatabaseModule provides it as the problem-details filter's ERROR_MAPPING). */
export function asDatabaseOutage(error: unknown): DatabaseUnavailableException | undefined {
  const reason = databaseUnavailableReason(error);
  return reason === undefined ? undefined : new DatabaseUnavailableException(reason);
}
