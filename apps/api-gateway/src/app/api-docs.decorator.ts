/**
 * OpenAPI documentation shared by the controllers: the error responses every route can give (all in
 * the `Error` schema of openapi.ts) and the page envelope of API.md's lists. Documentation only:
 * nothing here changes what a route does.
 */
import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiResponse } from '@nestjs/swagger';

export const ERROR_SCHEMA_REF = '#/components/schemas/Error';

/** The error statuses of API.md, with the codes each one carries. */
export const ERROR_RESPONSES = {
  400: 'bad_request (an undecodable body, one nested deeper than 32 levels, or bad parameters) or validation_failed (details.fields lists each bad field; ' +
    'a NUL or an unpaired UTF-16 surrogate in any string of the body, query or path is one)',
  401: 'unauthorized: missing, unknown, revoked or expired API key',
  403: 'forbidden: this key may not do that',
  404: 'not_found',
  409: 'conflict, already_revoked, or ca_unavailable (CA revoked or expired, or its caPassphrase missing or wrong)',
  413: 'payload_too_large: the body is over BODY_LIMIT_BYTES',
  415: 'unsupported_media_type: request bodies are JSON',
  422: 'policy_violation or idempotency_mismatch',
  429: 'rate_limited: also Retry-After and "retryAfter" in the body',
  500: 'internal',
  503: 'service_unavailable: no signer answered in time; retry',
} as const;

export type ErrorStatus = keyof typeof ERROR_RESPONSES;

/** What any authenticated route can answer: a bad request, no valid key, the rate limit, a bug. */
const COMMON_ERRORS: ErrorStatus[] = [400, 401, 429, 500];

/** A route with a JSON body can also refuse it before reading it. */
export const BODY_ERRORS: ErrorStatus[] = [413, 415];

/**
 * The error responses of a route (or of every route of a controller, on the class): 400, 401, 429 and
 * 500 always, plus `statuses`. Each references the `Error` schema.
 */
export const ApiErrors = (...statuses: ErrorStatus[]) =>
  applyDecorators(
    ...[...new Set([...COMMON_ERRORS, ...statuses])]
      .sort((a, b) => a - b)
      .map((status) =>
        ApiResponse({ status, description: ERROR_RESPONSES[status], content: { 'application/json': { schema: { $ref: ERROR_SCHEMA_REF } } } }),
      ),
  );

/** API.md's list envelope around `<items>`: `{<items>: [...], total, page, pageSize, totalPages}`. */
export abstract class PageView {
  @ApiProperty({ description: 'items matching the query, on all pages' }) total: number;
  @ApiProperty({ minimum: 1 }) page: number;
  @ApiProperty({ minimum: 1, maximum: 1000 }) pageSize: number;
  @ApiProperty() totalPages: number;
}
