/**
 * OCSP (RFC 6960) for pre-signed responses in the RFC 5019 manner.
 *
 *   OCSPRequest ::= SEQUENCE { tbsRequest TBSRequest, optionalSignature [0] EXPLICIT Signature OPTIONAL }
 *   TBSRequest  ::= SEQUENCE { version [0] EXPLICIT Version DEFAULT v1,
 *                              requestorName [1] EXPLICIT GeneralName OPTIONAL,
 *                              requestList SEQUENCE OF Request,
 *                              requestExtensions [2] EXPLICIT Extensions OPTIONAL }
 *   Request     ::= SEQUENCE { reqCert CertID, singleRequestExtensions [0] EXPLICIT Extensions OPTIONAL }
 *   CertID      ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, issuerNameHash OCTET STRING,
 *                              issuerKeyHash OCTET STRING, serialNumber CertificateSerialNumber }
 */
import { createHash } from 'node:crypto';
import { OID, SIGNATURE_SCHEMES, keyAlgorithmOf } from './algorithms';
import {
  DerError, Tag, bitString, children, content, enumerated, explicit, expectTag, generalizedTime,
  implicitPrimitive, integer, nullValue, octetString, oid, readDer, readOid, readSmallInteger, readUnsignedInteger, sequence, tlv,
} from './der';
import { EXTENSION_OID } from './extensions';
import { Issuer, ParsedCertificate, parseCertificate } from './certificate';
import { PkiError } from './errors';
import { subjectPublicKeyBits } from './keys';
import { REVOCATION_REASONS, RevocationReason } from './revocation-reasons';
import { signAsync } from './signing';

export type OcspHash = 'sha1' | 'sha256';
const HASH_OIDS: Record<string, OcspHash> = { [OID.sha1]: 'sha1', [OID.sha256]: 'sha256' };

export interface CertId {
  hashAlgorithm: OcspHash;
  issuerNameHash: Buffer;
  issuerKeyHash: Buffer;
  /** Uppercase hex. */
  serialNumber: string;
}

export interface OcspRequest {
  certIds: CertId[];
  nonce: Buffer | null;
}

export const MAX_OCSP_REQUEST_BYTES = 4096;

export function parseOcspRequest(der: Buffer): OcspRequest {
  if (!Buffer.isBuffer(der) || der.length === 0 || der.length > MAX_OCSP_REQUEST_BYTES) {
    throw new PkiError('invalid_request', 'OCSP request is empty or too large');
  }
  try {
    const [tbs] = children(expectTag(readDer(der), Tag.SEQUENCE, 'OCSPRequest'));
    const fields = children(expectTag(tbs, Tag.SEQUENCE, 'TBSRequest'));
    const version = fields.find((f) => f.tag === 0xa0);
    if (version && readSmallInteger(children(version)[0]) !== 0) throw new PkiError('invalid_request', 'only OCSP v1 requests exist');
    const requestList = fields.find((f) => f.tag === Tag.SEQUENCE);
    if (!requestList) throw new DerError('no requestList');
    const certIds = children(requestList).map((request) => {
      const [certId] = children(expectTag(request, Tag.SEQUENCE, 'Request'));
      const [algorithm, nameHash, keyHash, serial] = children(expectTag(certId, Tag.SEQUENCE, 'CertID'));
      const hashAlgorithm = HASH_OIDS[readOid(children(algorithm)[0])];
      if (!hashAlgorithm) throw new PkiError('invalid_request', 'CertID hash algorithm must be SHA-1 or SHA-256');
      return {
        hashAlgorithm,
        issuerNameHash: Buffer.from(content(expectTag(nameHash, Tag.OCTET_STRING, 'issuerNameHash'))),
        issuerKeyHash: Buffer.from(content(expectTag(keyHash, Tag.OCTET_STRING, 'issuerKeyHash'))),
        serialNumber: readUnsignedInteger(serial).toString('hex').toUpperCase(),
      };
    });
    if (!certIds.length || certIds.length > 32) throw new PkiError('invalid_request', 'an OCSP request must ask about 1 to 32 certificates');
    let nonce: Buffer | null = null;
    const extensions = fields.find((f) => f.tag === 0xa2);
    for (const ext of extensions ? children(children(extensions)[0]) : []) {
      const parts = children(ext);
      if (readOid(parts[0]) === EXTENSION_OID.ocspNonce) nonce = Buffer.from(content(expectTag(parts[parts.length - 1], Tag.OCTET_STRING, 'extnValue')));
    }
    if (nonce) checkNonce(nonce);
    return { certIds, nonce };
  } catch (error) {
    if (error instanceof PkiError) throw error;
    throw new PkiError('invalid_request', 'not a valid OCSP request');
  }
}

/**
 * RFC 8954 2.1: Nonce ::= OCTET STRING (SIZE(1..32)), and responders "MUST reject" a nonce of 0 or more
 * than 128 octets with malformedRequest. The nonce is kept as the whole extnValue content so the
 * response echoes exactly the bytes the client sent (OpenSSL compares them byte for byte); older clients
 * that put raw bytes there instead of an OCTET STRING are measured as they are.
 */
function checkNonce(extnValue: Buffer): void {
  let length = extnValue.length;
  try {
    const inner = readDer(extnValue);
    if (inner.tag === Tag.OCTET_STRING) length = inner.end - inner.contentStart;
  } catch {
    /* raw bytes */
  }
  if (length === 0 || length > 128) throw new PkiError('invalid_request', 'the OCSP nonce must be 1 to 128 octets');
}

/** The GET form (RFC 6960 A.1): the URL-encoding of the base64 of the DER request as the last path part. */
export function parseOcspGetPath(pathComponent: string): OcspRequest {
  let text: string;
  try {
    text = decodeURIComponent(pathComponent);
  } catch {
    throw new PkiError('invalid_request', 'the OCSP GET path is not URL-encoded base64');
  }
  // Some clients send base64url, or leave '+' that a proxy turned into ' '.
  text = text.replace(/ /g, '+').replace(/-/g, '+').replace(/_/g, '/');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) throw new PkiError('invalid_request', 'the OCSP GET path is not base64');
  return parseOcspRequest(Buffer.from(text, 'base64'));
}

/**
 * issuerNameHash and issuerKeyHash of a CA certificate (PEM, DER or parsed), as CertIDs carry them:
 * the hash of the DER of the CA's subject Name, and of its subjectPublicKey BIT STRING value (RFC 6960
 * 4.1.1). A responder keeps both the SHA-1 and the SHA-256 pair to find the CA a request names.
 */
export function issuerHashes(ca: ParsedCertificate | Buffer | string, hash: OcspHash = 'sha1'): { issuerNameHash: Buffer; issuerKeyHash: Buffer } {
  const cert = typeof ca === 'string' || Buffer.isBuffer(ca) ? parseCertificate(ca) : ca;
  return {
    issuerNameHash: createHash(hash).update(cert.subjectDer).digest(),
    issuerKeyHash: createHash(hash).update(subjectPublicKeyBits(cert.spkiDer)).digest(),
  };
}

/** Both pairs at once, by hash algorithm. */
export function allIssuerHashes(ca: ParsedCertificate | Buffer | string): Record<OcspHash, { issuerNameHash: Buffer; issuerKeyHash: Buffer }> {
  const cert = typeof ca === 'string' || Buffer.isBuffer(ca) ? parseCertificate(ca) : ca;
  return { sha1: issuerHashes(cert, 'sha1'), sha256: issuerHashes(cert, 'sha256') };
}

export type OcspCertStatus =
  | { status: 'good' }
  | { status: 'revoked'; revokedAt: Date; reason?: RevocationReason | null }
  | { status: 'unknown' };

export interface OcspResponseSpec {
  /** The CA that issued the certificate, answering for it itself (no delegated responder). */
  issuer: Issuer;
  certId: CertId;
  certStatus: OcspCertStatus;
  thisUpdate: Date;
  nextUpdate: Date;
  producedAt?: Date;
  nonce?: Buffer | null;
}

/** CertStatus ::= CHOICE { good [0] IMPLICIT NULL, revoked [1] IMPLICIT RevokedInfo, unknown [2] IMPLICIT NULL } */
function certStatus(status: OcspCertStatus): Buffer {
  if (status.status === 'good') return implicitPrimitive(0, Buffer.alloc(0));
  if (status.status === 'unknown') return implicitPrimitive(2, Buffer.alloc(0));
  const reason = status.reason ? REVOCATION_REASONS[status.reason] : null;
  // RevokedInfo ::= SEQUENCE { revocationTime GeneralizedTime, revocationReason [0] EXPLICIT CRLReason OPTIONAL }
  return tlv(0xa1, Buffer.concat([generalizedTime(status.revokedAt), ...(reason !== null ? [explicit(0, enumerated(reason))] : [])]));
}

const HASH_ALGORITHM_IDS: Record<OcspHash, Buffer> = {
  sha1: sequence(oid(OID.sha1), nullValue()),
  sha256: sequence(oid(OID.sha256), nullValue()),
};

const encodeCertId = (id: CertId) =>
  sequence(
    HASH_ALGORITHM_IDS[id.hashAlgorithm],
    octetString(id.issuerNameHash),
    octetString(id.issuerKeyHash),
    integer(Buffer.from(id.serialNumber.length % 2 ? `0${id.serialNumber}` : id.serialNumber, 'hex')),
  );

/**
 *   BasicOCSPResponse ::= SEQUENCE { tbsResponseData ResponseData, signatureAlgorithm AlgorithmIdentifier,
 *                                    signature BIT STRING, certs [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL }
 *   ResponseData ::= SEQUENCE { version [0] EXPLICIT Version DEFAULT v1, responderID ResponderID,
 *                               producedAt GeneralizedTime, responses SEQUENCE OF SingleResponse,
 *                               responseExtensions [1] EXPLICIT Extensions OPTIONAL }
 *   ResponderID ::= CHOICE { byName [1] Name, byKey [2] KeyHash }
 *   SingleResponse ::= SEQUENCE { certID CertID, certStatus CertStatus, thisUpdate GeneralizedTime,
 *                                 nextUpdate [0] EXPLICIT GeneralizedTime OPTIONAL, ... }
 */
export async function buildOcspResponse(spec: OcspResponseSpec): Promise<Buffer> {
  const single = sequence(
    encodeCertId(spec.certId),
    certStatus(spec.certStatus),
    generalizedTime(spec.thisUpdate),
    explicit(0, generalizedTime(spec.nextUpdate)),
  );
  const extensions = spec.nonce ? [explicit(1, sequence(sequence(oid(EXTENSION_OID.ocspNonce), octetString(spec.nonce))))] : [];
  const responseData = sequence(
    // ResponderID byKey: KeyHash ::= OCTET STRING -- SHA-1 hash of responder's public key (the BIT STRING value)
    explicit(2, octetString(spec.issuer.publicKeyHash ?? spec.issuer.keyIdentifier)),
    generalizedTime(spec.producedAt ?? new Date()),
    sequence(single),
    ...extensions,
  );
  const scheme = SIGNATURE_SCHEMES[keyAlgorithmOf(spec.issuer.privateKey)];
  const signature = await signAsync(responseData, spec.issuer.privateKey, scheme);
  const basic = sequence(responseData, scheme.algorithmIdentifier, bitString(signature));
  return ocspResponse(0, sequence(oid('1.3.6.1.5.5.7.48.1.1'), octetString(basic)));
}

/** OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED, responseBytes [0] EXPLICIT ResponseBytes OPTIONAL } */
function ocspResponse(status: number, responseBytes?: Buffer): Buffer {
  return sequence(enumerated(status), ...(responseBytes ? [explicit(0, responseBytes)] : []));
}

/** The unsigned error responses (RFC 6960 4.2.1); constant bytes. */
export const OCSP_MALFORMED_REQUEST = ocspResponse(1);
export const OCSP_INTERNAL_ERROR = ocspResponse(2);
export const OCSP_TRY_LATER = ocspResponse(3);
export const OCSP_UNAUTHORIZED = ocspResponse(6);

/** The responder's view of a stored response (status byte), e.g. to tell a 'successful' one apart. */
export const ocspResponseStatus = (der: Buffer): number => content(children(readDer(der))[0])[0];

