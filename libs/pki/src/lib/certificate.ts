/**
 * X.509 v3 certificates: build (root, intermediate, leaf) and parse.
 *
 *   Certificate ::= SEQUENCE { tbsCertificate TBSCertificate, signatureAlgorithm AlgorithmIdentifier,
 *                              signatureValue BIT STRING }
 *   TBSCertificate ::= SEQUENCE {
 *     version [0] EXPLICIT Version (v3 = 2), serialNumber CertificateSerialNumber,
 *     signature AlgorithmIdentifier, issuer Name, validity Validity, subject Name,
 *     subjectPublicKeyInfo SubjectPublicKeyInfo, extensions [3] EXPLICIT Extensions }   -- RFC 5280 4.1
 */
import { KeyObject, createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { KeyAlgorithm, SIGNATURE_SCHEMES, keyAlgorithmOf } from './algorithms';
import {
  DerError, DerNode, Tag, bitString, children, content, encoding, explicit, expectTag, integer, readBitStringBytes,
  readDer, readOid, readSmallInteger, readTime, readUnsignedInteger, sequence, time,
} from './der';
import { DistinguishedName, decodeName, encodeName } from './distinguished-name';
import { PkiError } from './errors';
import {
  EXTENSION_OID, KEY_USAGE_BITS, KeyUsageName, authorityInfoAccess, authorityKeyIdentifier, basicConstraints, crlDistributionPoints,
  extKeyUsage, extensionsField, keyIdentifier, keyUsage, nameConstraints, subjectAltName, subjectKeyIdentifier,
} from './extensions';
import { SubjectAltNames, decodeGeneralNames, isEmptySans } from './general-names';
import { publicKeyFromSpki, spkiDer } from './keys';
import { decodeInput, toPem } from './pem';
import { signAsync, signSync } from './signing';

/** Who signs: the issuing CA's subject, key identifier and private key (or the subject itself for a root). */
export interface Issuer {
  subjectDer: Buffer;
  /** The CA's subjectKeyIdentifier: what AuthorityKeyIdentifier in everything it signs must repeat. */
  keyIdentifier: Buffer;
  privateKey: KeyObject;
  /**
   * SHA-1 of the CA's subjectPublicKey bits (OCSP ResponderID byKey, RFC 6960 4.2.1). Equal to
   * keyIdentifier for CAs Signet made (RFC 5280 method 1), but an imported CA's SKI may have been
   * derived otherwise, and OpenSSL finds the responder by this hash. Defaults to keyIdentifier.
   */
  publicKeyHash?: Buffer;
}

export type CertificateKind = 'root' | 'intermediate' | 'leaf';

export interface CertificateSpec {
  kind: CertificateKind;
  /** A DN to encode, or a Name in DER (kept byte for byte, e.g. from a CSR). */
  subject: DistinguishedName | Buffer;
  /** The subject's public key as a KeyObject or SPKI DER. */
  publicKey: KeyObject | Buffer;
  /** The subject key's algorithm when `publicKey` is SPKI DER and the caller knows it (a parsed CSR does). */
  publicKeyAlgorithm?: KeyAlgorithm;
  /** Absent for a self-signed root, whose issuer is itself and which signs with `selfSignKey`. */
  issuer?: Issuer;
  selfSignKey?: KeyObject;
  notBefore: Date;
  notAfter: Date;
  pathLength?: number | null;
  permittedDnsDomains?: string[];
  sans?: SubjectAltNames;
  extendedKeyUsage?: string[];
  crlUrl?: string;
  ocspUrl?: string;
  caIssuersUrl?: string;
  /** Serial bytes; random when absent. */
  serial?: Buffer;
}

export interface IssuedCertificate {
  der: Buffer;
  pem: string;
  serialNumber: string;
  fingerprintSha256: string;
  notBefore: Date;
  notAfter: Date;
}

/** 16 CSPRNG bytes, positive (top bit clear) and with the next bit set so the INTEGER keeps all 16 bytes. */
export function randomSerial(): Buffer {
  const serial = randomBytes(16);
  serial[0] = (serial[0] & 0x3f) | 0x40;
  return serial;
}

export const serialHex = (serial: Buffer): string => serial.toString('hex').toUpperCase();

/** What Validity can carry: whole seconds (RFC 5280 4.1.2.5 forbids fractions). */
const wholeSeconds = (date: Date): Date => new Date(Math.floor(date.getTime() / 1000) * 1000);
export const fingerprintSha256 = (der: Buffer): string => createHash('sha256').update(der).digest('hex');

function leafKeyUsage(algorithm: KeyAlgorithm): KeyUsageName[] {
  // RSA keys may be used for key transport (TLS 1.2 RSA key exchange); EC and Ed25519 keys only sign.
  return algorithm.startsWith('RSA') ? ['digitalSignature', 'keyEncipherment'] : ['digitalSignature'];
}

/** Whether a Name in DER has no RDNs; anything that is not one DER SEQUENCE is refused. */
function isEmptyName(nameDer: Buffer): boolean {
  try {
    return children(expectTag(readDer(nameDer), Tag.SEQUENCE, 'Name')).length === 0;
  } catch {
    throw new PkiError('invalid_name', 'the subject is not a DER-encoded Name');
  }
}

/** Refusals a caller can act on, before any byte is written. */
function checkSpec(spec: CertificateSpec, serial: Buffer): void {
  const nb = spec.notBefore?.getTime();
  const na = spec.notAfter?.getTime();
  if (!Number.isFinite(nb) || !Number.isFinite(na)) throw new PkiError('invalid_request', 'notBefore and notAfter must be valid dates');
  if (na <= nb) throw new PkiError('invalid_request', 'notAfter must be after notBefore');
  // RFC 5280 4.1.2.2: positive, at most 20 octets. A serial of all zero bytes would encode as 0.
  if (serial.length === 0 || serial.length > 20 || serial.every((b) => b === 0)) throw new PkiError('invalid_request', 'the serial number must be 1 to 20 bytes and not zero');
  if (spec.kind !== 'leaf' && spec.pathLength !== undefined && spec.pathLength !== null && !(Number.isInteger(spec.pathLength) && spec.pathLength >= 0)) {
    throw new PkiError('invalid_request', 'pathLength must be a non-negative integer');
  }
  for (const domain of spec.permittedDnsDomains ?? []) {
    // Constraints are written as given (normalised by the caller); a wildcard or stray character would
    // make relying parties reject the whole CA.
    if (typeof domain !== 'string' || !/^\.?[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i.test(domain) || domain.includes('..')) {
      throw new PkiError('invalid_name', `permitted DNS domain "${String(domain)}" is not a DNS name`);
    }
  }
}

function prepare(spec: CertificateSpec): { tbs: Buffer; signer: KeyObject; serial: Buffer } {
  const subjectDer = Buffer.isBuffer(spec.subject) ? spec.subject : encodeName(spec.subject);
  const subjectSpki = Buffer.isBuffer(spec.publicKey) ? spec.publicKey : spkiDer(spec.publicKey);
  const subjectKeyId = keyIdentifier(subjectSpki);
  const selfSigned = !spec.issuer;
  if (selfSigned && (spec.kind !== 'root' || !spec.selfSignKey)) throw new PkiError('invalid_request', 'only a root is self-signed, with its own key');
  const issuer: Issuer = spec.issuer ?? { subjectDer, keyIdentifier: subjectKeyId, privateKey: spec.selfSignKey! };
  const scheme = SIGNATURE_SCHEMES[keyAlgorithmOf(issuer.privateKey)];
  const serial = spec.serial ?? randomSerial();
  checkSpec(spec, serial);
  const subjectIsEmpty = isEmptyName(subjectDer);
  const hasSans = !!spec.sans && !isEmptySans(spec.sans);
  // RFC 5280 4.1.2.6: an empty subject is only allowed with a (then critical) subjectAltName, and
  // never for a CA, whose subject is the issuer of what it signs (4.1.2.4: issuer MUST be non-empty).
  if (subjectIsEmpty && (spec.kind !== 'leaf' || !hasSans)) {
    throw new PkiError('invalid_name', spec.kind === 'leaf' ? 'a certificate with an empty subject needs at least one subject alternative name' : 'a CA certificate needs a non-empty subject');
  }

  const extensions: Buffer[] = [];
  if (spec.kind === 'leaf') {
    // Importing the key again just to learn its type would cost as much as the signature.
    const subjectKeyAlgorithm =
      spec.publicKeyAlgorithm ?? (Buffer.isBuffer(spec.publicKey) ? publicKeyFromSpki(subjectSpki).algorithm : keyAlgorithmOf(spec.publicKey));
    extensions.push(basicConstraints(false), keyUsage(leafKeyUsage(subjectKeyAlgorithm)));
    extensions.push(extKeyUsage(spec.extendedKeyUsage?.length ? spec.extendedKeyUsage : ['serverAuth']));
  } else {
    extensions.push(basicConstraints(true, spec.pathLength), keyUsage(['digitalSignature', 'keyCertSign', 'cRLSign']));
    if (spec.permittedDnsDomains?.length) extensions.push(nameConstraints(spec.permittedDnsDomains));
  }
  extensions.push(subjectKeyIdentifier(subjectKeyId));
  if (!selfSigned) extensions.push(authorityKeyIdentifier(issuer.keyIdentifier));
  if (hasSans) extensions.push(subjectAltName(spec.sans!, subjectIsEmpty));
  if (spec.crlUrl) extensions.push(crlDistributionPoints(spec.crlUrl));
  if (spec.ocspUrl || spec.caIssuersUrl) extensions.push(authorityInfoAccess({ ocsp: spec.ocspUrl, caIssuers: spec.caIssuersUrl }));

  const tbs = sequence(
    explicit(0, integer(2)),
    integer(serial),
    scheme.algorithmIdentifier,
    issuer.subjectDer,
    sequence(time(spec.notBefore), time(spec.notAfter)),
    subjectDer,
    subjectSpki,
    extensionsField(3, extensions),
  );
  return { tbs, signer: issuer.privateKey, serial };
}

function assemble(spec: CertificateSpec, tbs: Buffer, signer: KeyObject, serial: Buffer, signature: Buffer): IssuedCertificate {
  const der = sequence(tbs, SIGNATURE_SCHEMES[keyAlgorithmOf(signer)].algorithmIdentifier, bitString(signature));
  return {
    der,
    pem: toPem('CERTIFICATE', der),
    serialNumber: serialHex(serial),
    fingerprintSha256: fingerprintSha256(der),
    // What the certificate says, not what was asked: milliseconds do not survive the encoding.
    notBefore: wholeSeconds(spec.notBefore),
    notAfter: wholeSeconds(spec.notAfter),
  };
}

/** Build and sign, the signature on libuv's thread pool. */
export async function buildCertificate(spec: CertificateSpec): Promise<IssuedCertificate> {
  const { tbs, signer, serial } = prepare(spec);
  return assemble(spec, tbs, signer, serial, await signAsync(tbs, signer));
}

/** Build and sign on the calling thread. */
export function buildCertificateSync(spec: CertificateSpec): IssuedCertificate {
  const { tbs, signer, serial } = prepare(spec);
  return assemble(spec, tbs, signer, serial, signSync(tbs, signer));
}

export interface ParsedCertificate {
  der: Buffer;
  tbs: Buffer;
  signature: Buffer;
  signatureAlgorithm: string;
  serialNumber: string;
  issuerDer: Buffer;
  subjectDer: Buffer;
  issuer: DistinguishedName;
  subject: DistinguishedName;
  notBefore: Date;
  notAfter: Date;
  spkiDer: Buffer;
  publicKey: KeyObject;
  subjectKeyIdentifier: Buffer | null;
  authorityKeyIdentifier: Buffer | null;
  sans: SubjectAltNames;
  isCa: boolean;
  pathLength: number | null;
  /** dNSName bases of the permitted and excluded subtrees (other name forms are not read). */
  permittedDnsDomains: string[];
  excludedDnsDomains: string[];
  /** KeyUsage bits set, by name; empty when the extension is absent. */
  keyUsage: KeyUsageName[];
  /** ExtendedKeyUsage purposes as dotted OIDs; empty when the extension is absent. */
  extendedKeyUsage: string[];
  fingerprintSha256: string;
}

/**
 * Read a certificate from PEM (exactly one CERTIFICATE block), DER, or base64 of DER; the fields
 * Signet needs to import a CA or judge a client certificate. The signature is not checked here (see
 * certificateSignedBy).
 */

export function parseCertificate(input: string | Buffer): ParsedCertificate {
  const der = decodeInput(input, ['CERTIFICATE']);
  try {
    const [tbsNode, algorithm, signatureBits] = children(expectTag(readDer(der), Tag.SEQUENCE, 'Certificate'));
    const fields = children(expectTag(tbsNode, Tag.SEQUENCE, 'TBSCertificate'));
    const offset = fields[0]?.tag === 0xa0 ? 1 : 0;
    const [serial, , issuer, validity, subject, spki] = fields.slice(offset);
    const [notBefore, notAfter] = children(validity);
    const spkiBytes = Buffer.from(encoding(spki));
    const parsed: ParsedCertificate = {
      der,
      tbs: encoding(tbsNode),
      signature: readBitStringBytes(signatureBits),
      signatureAlgorithm: readOid(children(algorithm)[0]),
      serialNumber: serialHex(readUnsignedInteger(serial)),
      issuerDer: Buffer.from(encoding(issuer)),
      subjectDer: Buffer.from(encoding(subject)),
      issuer: decodeName(Buffer.from(encoding(issuer))),
      subject: decodeName(Buffer.from(encoding(subject))),
      notBefore: readTime(notBefore),
      notAfter: readTime(notAfter),
      spkiDer: spkiBytes,
      publicKey: createPublicKey({ key: spkiBytes, format: 'der', type: 'spki' }),
      subjectKeyIdentifier: null,
      authorityKeyIdentifier: null,
      sans: { dns: [], ip: [], email: [], uri: [] },
      isCa: false,
      pathLength: null,
      permittedDnsDomains: [],
      excludedDnsDomains: [],
      keyUsage: [],
      extendedKeyUsage: [],
      fingerprintSha256: fingerprintSha256(der),
    };
    const extensions = fields.find((f) => f.tag === 0xa3);
    if (extensions) readExtensions(children(children(extensions)[0]), parsed);
    return parsed;
  } catch (error) {
    if (error instanceof PkiError) throw error;
    if (error instanceof DerError || error instanceof TypeError) throw new PkiError('invalid_encoding', 'not a valid X.509 certificate');
    throw new PkiError('invalid_encoding', 'the certificate could not be read');
  }
}

function readExtensions(extensions: DerNode[], out: ParsedCertificate): void {
  for (const ext of extensions) {
    const parts = children(ext);
    const id = readOid(parts[0]);
    const value = Buffer.from(content(parts[parts.length - 1]));
    const node = readDer(value);
    switch (id) {
      case EXTENSION_OID.subjectKeyIdentifier:
        out.subjectKeyIdentifier = Buffer.from(content(node));
        break;
      case EXTENSION_OID.authorityKeyIdentifier: {
        const keyId = children(node).find((c) => c.tag === 0x80);
        out.authorityKeyIdentifier = keyId ? Buffer.from(content(keyId)) : null;
        break;
      }
      case EXTENSION_OID.subjectAltName:
        out.sans = decodeGeneralNames(value);
        break;
      case EXTENSION_OID.basicConstraints: {
        const [ca, pathLen] = children(node);
        out.isCa = ca?.tag === Tag.BOOLEAN && content(ca)[0] === 0xff;
        if (pathLen) out.pathLength = readSmallInteger(pathLen);
        break;
      }
      case EXTENSION_OID.nameConstraints: {
        // GeneralSubtree ::= SEQUENCE { base GeneralName, ... }; dNSName is [2] IMPLICIT IA5String.
        for (const [tag, list] of [[0xa0, out.permittedDnsDomains], [0xa1, out.excludedDnsDomains]] as const) {
          const subtrees = children(node).find((c) => c.tag === tag);
          for (const subtree of subtrees ? children(subtrees) : []) {
            const [base] = children(subtree);
            if (base.tag === 0x82) list.push(content(base).toString('latin1').toLowerCase());
          }
        }
        break;
      }
      case EXTENSION_OID.keyUsage: {
        const bits = content(expectTag(node, Tag.BIT_STRING, 'KeyUsage'));
        out.keyUsage = (Object.keys(KEY_USAGE_BITS) as KeyUsageName[]).filter((name) => {
          const bit = KEY_USAGE_BITS[name];
          return ((bits[1 + (bit >> 3)] ?? 0) & (0x80 >> (bit & 7))) !== 0;
        });
        break;
      }
      case EXTENSION_OID.extKeyUsage:
        out.extendedKeyUsage = children(expectTag(node, Tag.SEQUENCE, 'ExtKeyUsageSyntax')).map(readOid);
        break;
    }
  }
}

/** Does `issuerKey` verify the certificate's signature? (Import checks, client-certificate checks.) */
export function certificateSignedBy(cert: ParsedCertificate, issuerKey: KeyObject): boolean {
  const scheme = SIGNATURE_SCHEMES[keyAlgorithmOf(issuerKey)];
  try {
    return verify(scheme.digest, cert.tbs, issuerKey, cert.signature);
  } catch {
    return false;
  }
}

/** The Issuer record for a CA certificate and its private key. */
export function issuerOf(caCertificate: Buffer | ParsedCertificate, privateKey: KeyObject): Issuer {
  const cert = Buffer.isBuffer(caCertificate) ? parseCertificate(caCertificate) : caCertificate;
  const publicKeyHash = keyIdentifier(cert.spkiDer);
  return { subjectDer: cert.subjectDer, keyIdentifier: cert.subjectKeyIdentifier ?? publicKeyHash, privateKey, publicKeyHash };
}
