/**
 * Value types stored in columns. They mirror @signet/pki's names without importing it: persistence
 * depends on util libs only, and a stored string must stay readable even if the lib's union grows.
 */
export type KeyAlgorithmName = 'ECDSA-P256' | 'ECDSA-P384' | 'RSA-2048' | 'RSA-3072' | 'RSA-4096' | 'Ed25519';

/** RFC 5280 CRLReason names as API.md spells them. */
export type RevocationReasonName =
  | 'unspecified'
  | 'keyCompromise'
  | 'caCompromise'
  | 'affiliationChanged'
  | 'superseded'
  | 'cessationOfOperation'
  | 'certificateHold'
  | 'privilegeWithdrawn';

export interface SubjectRecord {
  commonName?: string;
  organization?: string;
  organizationalUnit?: string;
  country?: string;
  state?: string;
  locality?: string;
  serialNumber?: string;
  emailAddress?: string;
}
