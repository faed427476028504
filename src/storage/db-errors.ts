import { HubError } from '../contracts/errors.js';

/** Driver errors that mean "the database cannot be reached right now". */
const UNAVAILABLE_NAMES = new Set([
  'MongoServerSelectionError',
  'MongooseServerSelectionError',
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoNotConnectedError',
  'MongoTopologyClosedError',
  'MongoPoolClearedError',
  'MongoExpiredSessionError',
]);

/** Server error codes that say "not now" (failover, shutdown, time limit), not "never": see MongoDB's error_codes.yml. */
const TRANSIENT_CODES = new Set([6, 7, 50, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436]);

/** A server or driver error that a retry may clear (labelled retryable by the driver, or a failover code). */
function isTransientServerError(err: Error): boolean {
  const labelled = err as Error & { hasErrorLabel?: (label: string) => boolean; code?: unknown };
  if (typeof labelled.hasErrorLabel === 'function' && (labelled.hasErrorLabel('RetryableWriteError') || labelled.hasErrorLabel('ResetPool'))) return true;
  return typeof labelled.code === 'number' && TRANSIENT_CODES.has(labelled.code);
}

export function isDuplicateKeyError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 11000;
}

/** Maps a driver error to UNAVAILABLE when it is a connectivity fault; other errors pass through. */
export function mapDbError(err: unknown): unknown {
  if (err instanceof HubError) return err;
  if (err instanceof Error) {
    if (UNAVAILABLE_NAMES.has(err.name) || isTransientServerError(err) || /before initial connection|buffering timed out|connection .* closed|ECONNREFUSED|ECONNRESET/i.test(err.message)) {
      return new HubError('UNAVAILABLE', 'The database is unreachable; try again shortly');
    }
  }
  return err;
}

/**
 * Runs a database operation with a deadline, so a hung server turns into a prompt
 * UNAVAILABLE instead of a hung request. A late success after the deadline is harmless:
 * writes are idempotent by id / requestId / clientMessageId, so a client retry converges.
 */
export async function dbCall<T>(deadlineMs: number, op: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HubError('UNAVAILABLE', 'The database did not answer in time; try again shortly')), deadlineMs);
  });
  try {
    return await Promise.race([op(), deadline]);
  } catch (err) {
    throw mapDbError(err);
  } finally {
    clearTimeout(timer);
  }
}
