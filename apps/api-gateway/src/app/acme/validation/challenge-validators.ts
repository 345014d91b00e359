/**
 * ACME challenge validation: http-01 and dns-01 (RFC 8555 section 8.3, 8.4) and tls-alpn-01
 * (RFC 8737), for DNS and IP (RFC 8738) identifiers. Framework-free: the ACME server calls
 * validateChallenge with the challenge and its settings (ACME_DNS_RESOLVER, ACME_HTTP01_PORT,
 * ACME_TLSALPN01_PORT) and stores the outcome.
 *
 * validateChallenge never throws and always settles within `timeoutMs` (plus a timer tick): every
 * failure, including a malformed target, becomes `{ valid: false, problem }` with an ACME error type.
 */
import { normalizeDnsName, normalizeIp } from '@signet/pki';
import { Deadline } from './deadline';
import { validateDns01 } from './dns-01';
import { validateHttp01 } from './http-01';
import { resolverServers } from './name-resolution';
import { validateTlsAlpn01 } from './tls-alpn-01';
import {
  ACME_ERROR_PREFIX, ValidationFailure, ValidationOptions, ValidationOutcome, ValidationTarget, ValidatorSuccess,
} from './validation-types';

export type { ChallengeType, ValidationOptions, ValidationOutcome, ValidationProblem, ValidationTarget } from './validation-types';
export { ACME_ERROR_PREFIX } from './validation-types';
export { keyAuthorizationDigest } from './dns-01';

const CHALLENGE_TYPES = new Set(['http-01', 'dns-01', 'tls-alpn-01']);
/** RFC 8555 section 8.1: a token is base64url without padding (and carries at least 128 bits). */
const TOKEN = /^[A-Za-z0-9_-]{22,256}$/;

const validPort = (port: unknown): boolean => Number.isInteger(port) && (port as number) >= 1 && (port as number) <= 65535;

/** The identifier as it is validated (lowercase name, canonical address), or why the target cannot be validated. */
function checkTarget(target: ValidationTarget, options: ValidationOptions): string {
  if (!Number.isFinite(options?.timeoutMs) || options.timeoutMs <= 0) throw new ValidationFailure('serverInternal', 'validation needs a positive timeoutMs');
  if (!validPort(options.http01Port) || !validPort(options.tlsAlpn01Port)) throw new ValidationFailure('serverInternal', 'validation ports must be 1 to 65535');
  if (!CHALLENGE_TYPES.has(target?.type)) throw new ValidationFailure('malformed', `unsupported challenge type ${JSON.stringify(target?.type)}`);
  if (typeof target.token !== 'string' || !TOKEN.test(target.token)) throw new ValidationFailure('malformed', 'the challenge token is not a base64url token');
  if (typeof target.keyAuthorization !== 'string' || !target.keyAuthorization.startsWith(`${target.token}.`)) {
    throw new ValidationFailure('serverInternal', 'the key authorization is not of this challenge\'s token');
  }
  const { type, value } = target.identifier ?? {};
  let name: string;
  try {
    if (type === 'dns') name = normalizeDnsName(value);
    else if (type === 'ip') name = normalizeIp(value);
    else throw new ValidationFailure('malformed', `unsupported identifier type ${JSON.stringify(type)}`);
  } catch (error) {
    if (error instanceof ValidationFailure) throw error;
    throw new ValidationFailure('malformed', `invalid identifier: ${(error as Error).message}`);
  }
  if (name.startsWith('*.') && target.type !== 'dns-01') {
    throw new ValidationFailure('malformed', `a wildcard name can only be validated with dns-01, not ${target.type}`);
  }
  if (type === 'ip' && target.type === 'dns-01') {
    throw new ValidationFailure('malformed', 'dns-01 cannot validate an IP address (RFC 8738 section 7)');
  }
  return name;
}

async function run(target: ValidationTarget, options: ValidationOptions, deadline: Deadline): Promise<ValidatorSuccess> {
  const name = checkTarget(target, options);
  const servers = target.identifier.type === 'ip' && target.type !== 'http-01' ? undefined : await resolverServers(options.resolver, deadline);
  switch (target.type) {
    case 'http-01':
      return validateHttp01(target, name, options.http01Port, servers, deadline);
    case 'dns-01':
      return validateDns01(name, target.keyAuthorization, servers, deadline);
    case 'tls-alpn-01':
      return validateTlsAlpn01(target, name, options.tlsAlpn01Port, servers, deadline);
  }
}

function failureOutcome(error: unknown): ValidationOutcome {
  if (error instanceof ValidationFailure) return error.toOutcome();
  return { valid: false, problem: { type: `${ACME_ERROR_PREFIX}serverInternal`, detail: `validation failed unexpectedly: ${(error as Error)?.message ?? String(error)}` } };
}

/** Validate one challenge against its target; see the file comment for the guarantees. */
export async function validateChallenge(target: ValidationTarget, options: ValidationOptions): Promise<ValidationOutcome> {
  const timeoutMs = Number.isFinite(options?.timeoutMs) && options.timeoutMs > 0 ? options.timeoutMs : 0;
  const deadline = new Deadline(timeoutMs);
  try {
    const work: Promise<ValidationOutcome> = run(target, options, deadline).then(
      (success): ValidationOutcome => ({ valid: true, validatedAt: new Date(), ...(success.addressesTried ? { addressesTried: success.addressesTried } : {}) }),
      failureOutcome,
    );
    // Every step is bounded on its own and fails, with its own problem, when the deadline aborts it; this
    // is the backstop that holds the promise to the deadline should one not. It waits one turn of the
    // event loop past the deadline, so that the step's own failure (settled by then) is the one reported.
    const expired = deadline.expired
      .then(() => new Promise((resolve) => setImmediate(resolve)))
      .then((): ValidationOutcome => new ValidationFailure('connection', `validation timed out after ${timeoutMs} ms`).toOutcome());
    return await Promise.race([work, expired]);
  } catch (error) {
    return failureOutcome(error);
  } finally {
    deadline.dispose();
  }
}
