/**
 * ACME errors (RFC 8555 6.7): RFC 7807 problem documents with the ACME error types. Every failure on an
 * /acme route leaves as one of these (acme-exception.filter.ts), never in the REST API's error shape,
 * because ACME clients read `type`.
 */
export const ACME_ERROR_PREFIX = 'urn:ietf:params:acme:error:';

/** The types this server sends, with the status each is sent with unless a caller says otherwise. */
export const ACME_ERROR_STATUS = {
  accountDoesNotExist: 400,
  alreadyReplaced: 409,
  alreadyRevoked: 400,
  badCSR: 400,
  badNonce: 400,
  badPublicKey: 400,
  badRevocationReason: 400,
  badSignatureAlgorithm: 400,
  caa: 403,
  connection: 400,
  dns: 400,
  externalAccountRequired: 400,
  incorrectResponse: 400,
  invalidContact: 400,
  malformed: 400,
  orderNotReady: 403,
  rateLimited: 429,
  rejectedIdentifier: 400,
  serverInternal: 500,
  tls: 400,
  unauthorized: 403,
  unsupportedContact: 400,
  unsupportedIdentifier: 400,
  userActionRequired: 403,
} as const;

export type AcmeErrorType = keyof typeof ACME_ERROR_STATUS;

export interface ProblemDocument {
  type: string;
  detail: string;
  status: number;
  subproblems?: unknown[];
  algorithms?: string[];
}

export class AcmeProblem extends Error {
  readonly status: number;

  constructor(
    readonly type: AcmeErrorType,
    detail: string,
    options: { status?: number; subproblems?: unknown[]; algorithms?: string[]; headers?: Record<string, string> } = {},
  ) {
    super(detail);
    this.status = options.status ?? ACME_ERROR_STATUS[type];
    this.extra = options;
  }

  private readonly extra: { subproblems?: unknown[]; algorithms?: string[]; headers?: Record<string, string> };

  get headers(): Record<string, string> {
    return this.extra.headers ?? {};
  }

  document(): ProblemDocument {
    return {
      type: ACME_ERROR_PREFIX + this.type,
      detail: this.message,
      status: this.status,
      ...(this.extra.subproblems?.length ? { subproblems: this.extra.subproblems } : {}),
      ...(this.extra.algorithms ? { algorithms: this.extra.algorithms } : {}),
    };
  }
}

/** The problem document stored on an order, authorization or challenge. */
export const storedProblem = (type: AcmeErrorType, detail: string, subproblems?: unknown[]) => ({
  type: ACME_ERROR_PREFIX + type,
  detail,
  ...(subproblems?.length ? { subproblems } : {}),
});
