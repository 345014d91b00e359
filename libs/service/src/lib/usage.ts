/**
 * API.md's `usage` labels and the extendedKeyUsage each implies. Any other label must come with an
 * explicit `extendedKeyUsage` (names or dotted OIDs).
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

const EKU_NAME = /^(serverAuth|clientAuth|codeSigning|emailProtection|timeStamping|ocspSigning|[0-2](\.(0|[1-9]\d{0,8})){1,20})$/;

export function extendedKeyUsageFor(usage: string, explicit?: string[]): string[] {
  if (explicit?.length) {
    const bad = explicit.filter((eku) => !EKU_NAME.test(eku));
    if (bad.length) throw ApiError.validation([{ field: 'extendedKeyUsage', messages: [`unknown extended key usage: ${bad.join(', ')}`] }]);
    return [...new Set(explicit)];
  }
  const implied = USAGE_EKU[usage];
  if (!implied) {
    throw ApiError.validation([{ field: 'extendedKeyUsage', messages: [`usage "${usage}" is not one of ${Object.keys(USAGE_EKU).join(', ')}: give extendedKeyUsage`] }]);
  }
  return implied;
}
