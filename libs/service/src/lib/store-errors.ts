/**
 * A data store (PostgreSQL, Redis) that cannot be reached, or went away mid-request, is an outage the
 * caller can wait out: 503 `service_unavailable` with `retryable: true` (API.md), never a 500.
 *
 * Recognised by the driver's error code (a socket errno, or a PostgreSQL SQLSTATE of class 08
 * "connection exception" or 57P0x "operator intervention" / "cannot connect now", 53300 too many
 * connections) and, where a driver gives no code, by its fixed messages (node-postgres' "Connection
 * terminated unexpectedly", pg-pool's connect timeout, ioredis' "Connection is closed."). TypeORM wraps
 * driver errors (QueryFailedError.driverError); a `cause` chain is followed too.
 */
import { ApiError } from './errors';

const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);
const SQLSTATE = /^(08[0-9A-Z]{3}|57P0[1-5]|53300)$/;
const MESSAGES = [
  /\bconnect (ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH)\b/,
  /\b(read|write) (ECONNRESET|EPIPE)\b/,
  /^Connection terminated( unexpectedly| due to connection timeout)?$/,
  /^timeout exceeded when trying to connect$/,
  /^Client has encountered a connection error and is not queryable$/,
  /^terminating connection due to administrator command$/,
  /^the database system is (starting up|shutting down|in recovery mode|not yet accepting connections)/,
  /^Connection is closed\.?$/,
  /^Reached the max retries per request limit/,
];

/** The message a job's failure carries, or an error's own: does it say a store was unreachable? */
export function isStoreUnavailableMessage(message: string): boolean {
  return MESSAGES.some((pattern) => pattern.test(message));
}

export function isStoreUnavailable(error: unknown, depth = 0): boolean {
  if (!error || typeof error !== 'object' || depth > 3) return false;
  const e = error as { code?: unknown; message?: unknown; driverError?: unknown; cause?: unknown };
  if (typeof e.code === 'string' && (SOCKET_CODES.has(e.code) || SQLSTATE.test(e.code))) return true;
  if (typeof e.message === 'string' && isStoreUnavailableMessage(e.message)) return true;
  return isStoreUnavailable(e.driverError, depth + 1) || isStoreUnavailable(e.cause, depth + 1);
}

export const storeUnavailable = (message = 'a data store is unavailable; retry the request'): ApiError =>
  new ApiError('service_unavailable', message, { retryable: true });
