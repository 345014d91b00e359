/**
 * The contract of challenge validation (RFC 8555 section 8, RFC 8737, RFC 8738) and the failures it
 * reports, as ACME problem types (RFC 8555 section 6.7).
 */

export type ChallengeType = 'http-01' | 'dns-01' | 'tls-alpn-01';

export interface ValidationTarget {
  type: ChallengeType;
  identifier: { type: 'dns' | 'ip'; value: string };
  token: string;
  keyAuthorization: string;
}

export interface ValidationOptions {
  /** `host:port` (or `[v6]:port`, or a host alone for port 53) of the DNS server to use; undefined: the system's. */
  resolver?: string;
  http01Port: number;
  tlsAlpn01Port: number;
  /** The whole attempt: resolution, connections, redirects and reads together. */
  timeoutMs: number;
}

export interface ValidationProblem {
  /** The full ACME URN, e.g. `urn:ietf:params:acme:error:connection`. */
  type: string;
  detail: string;
}

export type ValidationOutcome =
  | { valid: true; validatedAt: Date; addressesTried?: string[] }
  | { valid: false; problem: ValidationProblem };

/** The ACME error types validation reports (RFC 8555 section 6.7). */
export type ProblemKind = 'dns' | 'connection' | 'incorrectResponse' | 'tls' | 'unauthorized' | 'malformed' | 'serverInternal';

export const ACME_ERROR_PREFIX = 'urn:ietf:params:acme:error:';

/** A failed step inside validation; validateChallenge turns it into an outcome, so nothing escapes as a throw. */
export class ValidationFailure extends Error {
  override readonly name = 'ValidationFailure';
  constructor(readonly kind: ProblemKind, readonly detail: string) {
    super(detail);
  }

  toOutcome(): ValidationOutcome {
    return { valid: false, problem: { type: ACME_ERROR_PREFIX + this.kind, detail: this.detail } };
  }
}

/** What a validator that connects to the target reports on success. */
export interface ValidatorSuccess {
  addressesTried?: string[];
}

/** A value from the target quoted in a problem detail: JSON-escaped and cut short. */
export function quote(value: string, max = 64): string {
  return JSON.stringify(value.length > max ? `${value.slice(0, max)}…` : value);
}
