/**
 * dns-01 (RFC 8555 section 8.4): a TXT record at `_acme-challenge.<name>` (a wildcard's `*.` removed)
 * whose value is the base64url SHA-256 digest of the key authorization. Any one of the name's TXT
 * records may carry it (clients validating a name and its wildcard at once publish two).
 */
import { createHash } from 'node:crypto';
import { Deadline } from './deadline';
import { DnsFailure, ResolverServers, lookupTxt } from './name-resolution';
import { ValidationFailure, ValidatorSuccess, quote } from './validation-types';

/** base64url(SHA-256(keyAuthorization)): the TXT value of dns-01 (RFC 8555 section 8.4). */
export function keyAuthorizationDigest(keyAuthorization: string): string {
  return createHash('sha256').update(keyAuthorization, 'utf8').digest('base64url');
}

export async function validateDns01(
  name: string,
  keyAuthorization: string,
  servers: ResolverServers,
  deadline: Deadline,
): Promise<ValidatorSuccess> {
  const recordName = `_acme-challenge.${name.replace(/^\*\./, '')}`;
  const expected = keyAuthorizationDigest(keyAuthorization);
  let records: string[];
  try {
    records = await lookupTxt(recordName, servers, deadline);
  } catch (error) {
    if (error instanceof DnsFailure && error.empty) {
      throw new ValidationFailure('dns', `no TXT record found at ${recordName}`);
    }
    throw error;
  }
  if (records.includes(expected)) return {};
  if (!records.length) throw new ValidationFailure('dns', `no TXT record found at ${recordName}`);
  const more = records.length > 1 ? ` (and ${records.length - 1} more)` : '';
  throw new ValidationFailure('incorrectResponse', `incorrect TXT record ${quote(records[0])}${more} found at ${recordName}; expected ${quote(expected)}`);
}
