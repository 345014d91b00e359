/**
 * Writing a PKCS#10 certificate request (RFC 2986), as Signet sends one to an outside CA: the subject,
 * the public key, and the subject alternative names in an extensionRequest attribute (PKCS#9,
 * RFC 2985 5.4.2), signed with the private key (ECDSA with SHA-256/384, RSA PKCS#1 v1.5, Ed25519).
 *
 *   CertificationRequest ::= SEQUENCE {
 *     certificationRequestInfo CertificationRequestInfo,
 *     signatureAlgorithm       AlgorithmIdentifier,
 *     signature                BIT STRING }
 *   CertificationRequestInfo ::= SEQUENCE {
 *     version       INTEGER { v1(0) },
 *     subject       Name,
 *     subjectPKInfo SubjectPublicKeyInfo,
 *     attributes    [0] IMPLICIT SET OF Attribute }
 */
import type { KeyObject } from 'node:crypto';
import { implicitConstructed, integer, oid, octetString, sequence, setOf } from './der';
import { DistinguishedName, encodeName } from './distinguished-name';
import { EXTENSION_OID, extension } from './extensions';
import { SubjectAltNames, encodeGeneralNames, isEmptySans } from './general-names';
import { spkiDer } from './keys';
import { signAndWrap } from './signing';

const EXTENSION_REQUEST = '1.2.840.113549.1.9.14';

/** The DER of a signed request for `subject` (may be empty) and `sans` (already normalised), with `privateKey`'s public half. */
export async function certificationRequest(privateKey: KeyObject, publicKey: KeyObject, request: { subject: DistinguishedName; sans: SubjectAltNames }): Promise<Buffer> {
  const attributes = isEmptySans(request.sans)
    ? []
    : [sequence(oid(EXTENSION_REQUEST), setOf(sequence(extension(EXTENSION_OID.subjectAltName, false, encodeGeneralNames(request.sans)))))];
  const info = sequence(integer(0), encodeName(request.subject), spkiDer(publicKey), implicitConstructed(0, Buffer.concat(attributes)));
  return signAndWrap(info, privateKey);
}
