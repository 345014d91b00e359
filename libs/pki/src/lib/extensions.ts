/**
 * X.509 v3 extensions, one function each, returning the DER of
 *   Extension ::= SEQUENCE { extnID OBJECT IDENTIFIER, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
 * Criticality follows RFC 5280 4.2: basicConstraints, keyUsage and nameConstraints critical; SAN critical
 * only when the subject is empty; the rest not.
 */
import { createHash } from 'node:crypto';
import { boolean, implicitConstructed, implicitPrimitive, integer, octetString, oid, sequence, bitString, enumerated, Tag, tlv } from './der';
import { PkiError } from './errors';
import { SubjectAltNames, encodeGeneralNames } from './general-names';
import { subjectPublicKeyBits } from './keys';

export const EXTENSION_OID = {
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  cRLNumber: '2.5.29.20',
  reasonCode: '2.5.29.21',
  nameConstraints: '2.5.29.30',
  cRLDistributionPoints: '2.5.29.31',
  issuingDistributionPoint: '2.5.29.28',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  ocspNonce: '1.3.6.1.5.5.7.48.1.2',
} as const;

export const EXTENDED_KEY_USAGES: Record<string, string> = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  emailProtection: '1.3.6.1.5.5.7.3.4',
  timeStamping: '1.3.6.1.5.5.7.3.8',
  ocspSigning: '1.3.6.1.5.5.7.3.9',
};

export function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? sequence(oid(id), boolean(true), octetString(value)) : sequence(oid(id), octetString(value));
}

/** BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER (0..MAX) OPTIONAL } */
export function basicConstraints(ca: boolean, pathLength?: number | null): Buffer {
  const fields = ca ? [boolean(true), ...(pathLength !== undefined && pathLength !== null ? [integer(pathLength)] : [])] : [];
  return extension(EXTENSION_OID.basicConstraints, true, sequence(...fields));
}

export const KEY_USAGE_BITS = {
  digitalSignature: 0,
  nonRepudiation: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
} as const;
export type KeyUsageName = keyof typeof KEY_USAGE_BITS;

/** KeyUsage ::= BIT STRING — a DER named-bit list: trailing zero bits dropped (X.690 11.2.2). */
export function keyUsage(usages: KeyUsageName[]): Buffer {
  let bits = 0;
  for (const usage of usages) bits |= 0x80 >> KEY_USAGE_BITS[usage];
  let unused = 0;
  while (unused < 7 && !(bits & (1 << unused))) unused++;
  return extension(EXTENSION_OID.keyUsage, true, bitString(Buffer.from([bits]), unused));
}

/** The OID of an EKU given by name (serverAuth, ...) or in dotted form. */
export function extendedKeyUsageOid(name: string): string {
  const known = EXTENDED_KEY_USAGES[name];
  if (known) return known;
  if (/^[0-2](\.(0|[1-9]\d{0,8})){1,20}$/.test(name)) return name;
  throw new PkiError('invalid_request', `unknown extended key usage "${name}": use ${Object.keys(EXTENDED_KEY_USAGES).join(', ')} or a dotted OID`);
}

/** ExtKeyUsageSyntax ::= SEQUENCE SIZE (1..MAX) OF KeyPurposeId */
export const extKeyUsage = (usages: string[]): Buffer =>
  extension(EXTENSION_OID.extKeyUsage, false, sequence(...usages.map((u) => oid(extendedKeyUsageOid(u)))));

/** RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING's value. */
export const keyIdentifier = (spki: Buffer): Buffer => createHash('sha1').update(subjectPublicKeyBits(spki)).digest();

export const subjectKeyIdentifier = (keyId: Buffer): Buffer => extension(EXTENSION_OID.subjectKeyIdentifier, false, octetString(keyId));

/** AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] KeyIdentifier OPTIONAL, ... } */
export const authorityKeyIdentifier = (keyId: Buffer): Buffer =>
  extension(EXTENSION_OID.authorityKeyIdentifier, false, sequence(implicitPrimitive(0, keyId)));

export const subjectAltName = (sans: SubjectAltNames, subjectIsEmpty: boolean): Buffer =>
  extension(EXTENSION_OID.subjectAltName, subjectIsEmpty, encodeGeneralNames(sans));

const uriName = (url: string) => implicitPrimitive(6, Buffer.from(url, 'ascii'));

/**
 * The `distributionPoint [0] DistributionPointName` field naming one URI: the same bytes in a
 * certificate's CRLDistributionPoints and in its CRL's IssuingDistributionPoint, which relying parties
 * (Go, Mozilla, Let's Encrypt's linters) compare byte for byte to match the CRL to the certificate.
 *   DistributionPointName ::= CHOICE { fullName [0] GeneralNames, ... }
 */
const distributionPointField = (url: string): Buffer => implicitConstructed(0, implicitConstructed(0, uriName(url)));

/**
 *   CRLDistributionPoints ::= SEQUENCE OF DistributionPoint
 *   DistributionPoint ::= SEQUENCE { distributionPoint [0] DistributionPointName OPTIONAL, ... }
 */
export const crlDistributionPoints = (url: string): Buffer =>
  extension(EXTENSION_OID.cRLDistributionPoints, false, sequence(sequence(distributionPointField(url))));

/**
 * RFC 5280 5.2.5, a critical CRL extension that confines the CRL to one distribution point:
 *   IssuingDistributionPoint ::= SEQUENCE {
 *     distributionPoint [0] DistributionPointName OPTIONAL,
 *     onlyContainsUserCerts [1] BOOLEAN DEFAULT FALSE, onlyContainsCACerts [2] BOOLEAN DEFAULT FALSE,
 *     onlySomeReasons [3] ReasonFlags OPTIONAL, indirectCRL [4] BOOLEAN DEFAULT FALSE,
 *     onlyContainsAttributeCerts [5] BOOLEAN DEFAULT FALSE }
 * DEFAULT FALSE fields are left out when false (X.690 11.5).
 */
export function issuingDistributionPoint(url: string, only: { onlyContainsUserCerts?: boolean } = {}): Buffer {
  const fields = [distributionPointField(url)];
  if (only.onlyContainsUserCerts) fields.push(implicitPrimitive(1, Buffer.from([0xff])));
  return extension(EXTENSION_OID.issuingDistributionPoint, true, sequence(...fields));
}

/** AuthorityInfoAccessSyntax ::= SEQUENCE OF AccessDescription { accessMethod, accessLocation GeneralName } */
export function authorityInfoAccess(urls: { ocsp?: string; caIssuers?: string }): Buffer {
  const descriptions: Buffer[] = [];
  if (urls.ocsp) descriptions.push(sequence(oid('1.3.6.1.5.5.7.48.1'), uriName(urls.ocsp)));
  if (urls.caIssuers) descriptions.push(sequence(oid('1.3.6.1.5.5.7.48.2'), uriName(urls.caIssuers)));
  return extension(EXTENSION_OID.authorityInfoAccess, false, sequence(...descriptions));
}

/**
 *   NameConstraints ::= SEQUENCE { permittedSubtrees [0] GeneralSubtrees OPTIONAL, ... }
 *   GeneralSubtree ::= SEQUENCE { base GeneralName, minimum [0] DEFAULT 0, maximum [1] OPTIONAL }
 */
export const nameConstraints = (permittedDnsDomains: string[]): Buffer =>
  extension(
    EXTENSION_OID.nameConstraints,
    true,
    sequence(implicitConstructed(0, Buffer.concat(permittedDnsDomains.map((d) => sequence(implicitPrimitive(2, Buffer.from(d, 'ascii'))))))),
  );

/** CRLNumber ::= INTEGER (0..MAX) */
export const crlNumber = (n: bigint | number): Buffer => extension(EXTENSION_OID.cRLNumber, false, integer(BigInt(n)));

/** CRLReason ::= ENUMERATED — as a crlEntryExtension. */
export const reasonCode = (code: number): Buffer => extension(EXTENSION_OID.reasonCode, false, enumerated(code));

/** Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension, under the [3] EXPLICIT of TBSCertificate. */
export const extensionsField = (tag: number, extensions: Buffer[]): Buffer => tlv(0xa0 | tag, sequence(...extensions));

export { Tag };
