import { Logger } from '@nestjs/common';

/** A PostgreSQL deadlock or serialization failure aborts the whole transaction; it is retried this often in all. */
export const TRANSACTION_ATTEMPTS = 3;
const RETRYABLE_SQLSTATES = new Set(['40P01', '40001']);

/**
 * Runs `work` (one transaction, or one statement) again when PostgreSQL aborted it with a deadlock (40P01) or a
 * serialization failure (40001), at most TRANSACTION_ATTEMPTS times in all, logging each retry as `what` hit it.
 * Every other error, and the last attempt's, is the caller's. The work must be safe to run again: it was rolled back.
 */
export async function retryingConflicts<T>(logger: Logger, what: string, work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (attempt >= TRANSACTION_ATTEMPTS || typeof code !== 'string' || !RETRYABLE_SQLSTATES.has(code)) throw error;
      logger.warn(`${what} hit ${code} (attempt ${attempt} of ${TRANSACTION_ATTEMPTS}); retrying it`);
    }
  }
}
