/**
 * API.md's `usage` labels and the extendedKeyUsage each implies. Any other label is a label of the
 * caller's (CertMate's custom usages): stored as given, with the `extendedKeyUsage` it comes with (names
 * or dotted OIDs), or `server`'s serverAuth when it comes with none.
 */
import { ApiError } from './errors';

export const USAGE_EKU: Record<string, string[]> = {
  server: ['serverAuth'],
  client: ['clientAuth'],
  'api-mtls': ['clientAuth'],
  vpn: ['clientAuth'],
  'server-client': ['serverAuth', 'clientAuth'],
  email: ['emailProtection'],
  'code-signing': ['codeSigning'],
};

/** RFC 5280 4.2.1.12's anyExtendedKeyUsage: a leaf good for every purpose is never issued, by OID or by name. */
const ANY_EKU = new Set(['2.5.29.37.0', 'anyExtendedKeyUsage']);

const EKU_NAME = /^(serverAuth|clientAuth|codeSigning|emailProtection|timeStamping|ocspSigning|[0-2](\.(0|[1-9]\d{0,8})){1,20})$/;

/** The EKU of a label without one of its own: what `server` stands for. */
export const CUSTOM_USAGE_DEFAULT_EKU = USAGE_EKU.server;

/**
 * The EKU a certificate of `usage` gets: `explicit` when given (checked), else what the label stands for,
 * else (a custom label) serverAuth. The one rule for the gateway, profiles and the signer's policy module.
 */
export function extendedKeyUsageFor(usage: string, explicit?: string[]): string[] {
  if (explicit?.length) {
    const any = explicit.filter((eku) => ANY_EKU.has(eku));
    if (any.length) {
      throw ApiError.validation([{ field: 'extendedKeyUsage', messages: [`${any.join(', ')} (anyExtendedKeyUsage) is not issued: name the purposes the certificate is for`] }]);
    }
    const bad = explicit.filter((eku) => !EKU_NAME.test(eku));
    if (bad.length) throw ApiError.validation([{ field: 'extendedKeyUsage', messages: [`unknown extended key usage: ${bad.join(', ')}`] }]);
    return [...new Set(explicit)];
  }
  return [...(USAGE_EKU[usage] ?? CUSTOM_USAGE_DEFAULT_EKU)];
}
