/**
 * PKCS#7 / CMS "certs-only" SignedData (RFC 5652 5.1; RFC 7030 4.1.3 for EST): certificates, no
 * content, no signers.
 *
 *   ContentInfo ::= SEQUENCE { contentType OBJECT IDENTIFIER (signedData), content [0] EXPLICIT SignedData }
 *   SignedData ::= SEQUENCE { version CMSVersion (1), digestAlgorithms SET OF (empty),
 *                             encapContentInfo SEQUENCE { eContentType id-data },
 *                             certificates [0] IMPLICIT CertificateSet, signerInfos SET OF (empty) }
 * Written directly in DER (forge cannot read EC or Ed25519 certificates). The certificates keep the
 * caller's order (leaf first), as OpenSSL does: the output is byte for byte that of `openssl crl2pkcs7
 * -nocrl` (see pkcs.spec.ts), which EST clients already accept, although strict DER would sort a SET OF.
 */
import { explicit, implicitConstructed, integer, oid, sequence, setOf } from './der';

const SIGNED_DATA = '1.2.840.113549.1.7.2';
const DATA = '1.2.840.113549.1.7.1';

export function certsOnlyPkcs7(certificates: Buffer[]): Buffer {
  const signedData = sequence(
    integer(1),
    setOf(),
    sequence(oid(DATA)),
    implicitConstructed(0, Buffer.concat(certificates)),
    setOf(),
  );
  return sequence(oid(SIGNED_DATA), explicit(0, signedData));
}
