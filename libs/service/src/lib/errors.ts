/**
 * The one error shape of API.md:
 *   {"error": "certificate not found", "code": "not_found", "status": 404, "details": {...}, "requestId": "..."}
 * Code throws ApiError (or a Nest HttpException, which the filter maps); nothing else reaches a client.
 * This file is the one error table: API codes and their statuses, and the API code of every
 * signing-lib refusal, used alike by the gateway, the signer (job refusals) and the enroll server.
 */
import type { PkiError, PkiErrorCode } from '@signet/pki';

export const ERROR_STATUS = {
  bad_request: 400,
  validation_failed: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  already_revoked: 409,
  ca_unavailable: 409,
  /** A deployment to an agent that is offline (API.md section 10). */
  agent_unavailable: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  idempotency_mismatch: 422,
  policy_violation: 422,
  rate_limited: 429,
  internal: 500,
  service_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorBody {
  error: string;
  code: ErrorCode | string;
  status: number;
  details?: Record<string, unknown>;
  requestId?: string;
  retryAfter?: number;
}

export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    /** Extra response headers (e.g. Retry-After) */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.status = ERROR_STATUS[code];
  }

  static badRequest = (message: string, details?: Record<string, unknown>) => new ApiError('bad_request', message, details);
  static notFound = (what: string) => new ApiError('not_found', `${what} not found`);
  static forbidden = (message = 'this key may not do that') => new ApiError('forbidden', message);
  static unauthorized = (message = 'missing or invalid API key') => new ApiError('unauthorized', message);
  static validation = (fields: FieldError[]) =>
    new ApiError('validation_failed', 'request validation failed', { fields });
}

export interface FieldError {
  field: string;
  messages: string[];
}

/** Default code for a bare HTTP status (from Nest exceptions or body-parser errors). */
export function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 400: return 'bad_request';
    case 401: return 'unauthorized';
    case 403: return 'forbidden';
    case 404: return 'not_found';
    case 405: return 'not_found';
    case 409: return 'conflict';
    case 413: return 'payload_too_large';
    case 415: return 'unsupported_media_type';
    case 422: return 'policy_violation';
    case 429: return 'rate_limited';
    case 503: return 'service_unavailable';
    default: return status >= 500 ? 'internal' : 'bad_request';
  }
}

/** The API code a signing-lib refusal becomes, wherever it is met. */
export const PKI_ERROR_CODES: Record<PkiErrorCode, ErrorCode> = {
  invalid_encoding: 'validation_failed',
  not_a_csr: 'validation_failed',
  bad_signature: 'validation_failed',
  invalid_name: 'validation_failed',
  key_mismatch: 'validation_failed',
  invalid_request: 'validation_failed',
  weak_key: 'policy_violation',
  unsupported_key: 'policy_violation',
  unsupported_algorithm: 'policy_violation',
  name_constraint_violation: 'policy_violation',
  decryption_failed: 'ca_unavailable',
  passphrase_required: 'ca_unavailable',
};

/**
 * The API code of a refusal about `error`: PKI_ERROR_CODES, except that a wildcard where a name may
 * not have one is a policy refusal (the name is well-formed; the rule forbids it).
 */
export function apiCodeOfPki(error: PkiError): ErrorCode {
  if (error.code === 'invalid_name' && /wildcard/.test(error.message)) return 'policy_violation';
  return PKI_ERROR_CODES[error.code] ?? 'policy_violation';
}

/** A signing-lib refusal about one request field, as the API error naming that field. */
export function apiErrorOfPki(error: PkiError, field: string): ApiError {
  const code = apiCodeOfPki(error);
  return code === 'validation_failed' ? ApiError.validation([{ field, messages: [error.message] }]) : new ApiError(code, error.message, { field });
}
