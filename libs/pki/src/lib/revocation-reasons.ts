/**
 * RFC 5280 5.3.1 CRLReason codes, under the names API.md uses (snake_case spellings accepted too).
 */
export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  caCompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  privilegeWithdrawn: 9,
} as const;

export type RevocationReason = keyof typeof REVOCATION_REASONS;

const BY_LOWER = new Map(Object.keys(REVOCATION_REASONS).map((name) => [name.toLowerCase(), name as RevocationReason]));

/** `keyCompromise`, `key_compromise` and `KEY_COMPROMISE` all name the same reason; unknown -> null. */
export function parseRevocationReason(value: string): RevocationReason | null {
  return BY_LOWER.get(value.replace(/_/g, '').toLowerCase()) ?? null;
}
