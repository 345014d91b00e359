/**
 * PKCS#10 certificate requests (RFC 2986): parse, check the self-signature, extract what issuance needs.
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
 *
 * Everything here is hostile input: sizes are bounded before parsing, the DER reader is strict, and
 * every refusal is a PkiError whose message tells the requester what to fix.
 */
import { KeyObject, constants, verify } from 'node:crypto';
import { KeyAlgorithm, OID } from './algorithms';
import { DerError, DerNode, Tag, children, content, encoding, expectTag, readBitStringBytes, readDer, readOid, readSmallInteger, readString } from './der';
import { NAME_UPPER_BOUNDS, PRINTABLE_STRING_ALPHABET } from './distinguished-name';
import { PkiError } from './errors';
import { decodeGeneralNames } from './general-names';
import { publicKeyFromSpki } from './keys';
import { decodeInput, pemBlocks } from './pem';
import { textFault } from './text';

/** Requests are small (a 4096-bit RSA CSR with many SANs is ~2 KiB); the bound is checked before parsing. */
export const MAX_CSR_BYTES = 16 * 1024;

/** Names of one kind (DNS, IP, e-mail, URI) a request may carry: the REST request's bound, for CSRs too. */
export const MAX_SANS_PER_KIND = 100;

export interface ParseCsrOptions {
  /** Largest input accepted, in bytes of the input as given (PEM text, base64 or DER); default 16 KiB. */
  maxBytes?: number;
  /**
   * false: read the request without checking its signature, for a caller that only looks at it and
   * passes it on to one that checks it before anything is signed (the enroll server, whose every CSR
   * the signer parses and verifies again). Default true.
   */
  verifySignature?: boolean;
}

/**
 * Subject attributes by name (commonName, organization, country, ...); unknown attribute types appear
 * under their dotted OID. Where an attribute repeats, the first occurrence is kept, as OpenSSL's
 * X509_NAME_get_index_by_NID(-1) does: the exact Name is in subjectDer for anyone who needs all of it.
 */
export type CsrSubject = Record<string, string>;

/** One Extension of the extensionRequest attribute (PKCS#9), value = the extnValue OCTET STRING's content. */
export interface RequestedExtension {
  oid: string;
  critical: boolean;
  value: Buffer;
}

export interface ParsedCsr {
  der: Buffer;
  /** The subject Name exactly as requested, for certificates that keep it byte for byte. */
  subjectDer: Buffer;
  subject: CsrSubject;
  commonName?: string;
  sanDns: string[];
  sanIp: string[];
  sanEmail: string[];
  sanUri: string[];
  requestedExtensions: RequestedExtension[];
  publicKey: KeyObject;
  spkiDer: Buffer;
  keyAlgorithm: KeyAlgorithm;
  challengePassword?: string;
}

interface VerifyParams {
  digest: string | null;
  padding?: number;
  saltLength?: number;
  keyType: 'rsa' | 'ec' | 'ed25519';
}

const EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const CHALLENGE_PASSWORD = '1.2.840.113549.1.9.7';
const SUBJECT_ALT_NAME = '2.5.29.17';

const SIMPLE_SIGNATURES: Record<string, VerifyParams> = {
  [OID.sha256WithRSAEncryption]: { digest: 'sha256', keyType: 'rsa' },
  [OID.sha384WithRSAEncryption]: { digest: 'sha384', keyType: 'rsa' },
  [OID.sha512WithRSAEncryption]: { digest: 'sha512', keyType: 'rsa' },
  [OID.ecdsaWithSHA256]: { digest: 'sha256', keyType: 'ec' },
  [OID.ecdsaWithSHA384]: { digest: 'sha384', keyType: 'ec' },
  [OID.ecdsaWithSHA512]: { digest: 'sha512', keyType: 'ec' },
  [OID.ed25519]: { digest: null, keyType: 'ed25519' },
};
const SHA1_SIGNATURES = new Set([OID.sha1WithRSAEncryption, '1.2.840.10045.4.1', '1.2.840.10040.4.3']);
const DIGEST_BY_OID: Record<string, string> = { [OID.sha256]: 'sha256', [OID.sha384]: 'sha384', [OID.sha512]: 'sha512' };

/**
 *   RSASSA-PSS-params ::= SEQUENCE {
 *     hashAlgorithm    [0] HashAlgorithm    DEFAULT sha1,
 *     maskGenAlgorithm [1] MaskGenAlgorithm DEFAULT mgf1SHA1,
 *     saltLength       [2] INTEGER          DEFAULT 20,
 *     trailerField     [3] TrailerField     DEFAULT trailerFieldBC }      -- RFC 4055 3.1
 */
function pssParams(params: DerNode | undefined): VerifyParams {
  if (!params) throw new PkiError('unsupported_algorithm', 'RSA-PSS without parameters means SHA-1: sign the CSR with SHA-256 or stronger');
  let digest = 'sha1';
  let mgfDigest = 'sha1';
  let saltLength = 20;
  let lastTag = 0;
  for (const field of children(expectTag(params, Tag.SEQUENCE, 'RSASSA-PSS-params'))) {
    // DER: each field at most once, in tag order, DEFAULT values omitted (X.690 11.5).
    if (field.tag <= lastTag || field.tag < 0xa0 || field.tag > 0xa3) throw new DerError('expected RSASSA-PSS-params');
    lastTag = field.tag;
    const [inner, extra] = children(field);
    if (!inner || extra) throw new DerError('expected one value in an RSASSA-PSS-params field');
    if (field.tag === 0xa0) digest = hashAlgorithm(inner);
    else if (field.tag === 0xa1) {
      //   MaskGenAlgorithm ::= AlgorithmIdentifier { mgf1, HashAlgorithm }
      const [mgf, mgfParams, more] = children(expectTag(inner, Tag.SEQUENCE, 'MaskGenAlgorithm'));
      if (readOid(mgf) !== OID.mgf1) throw new PkiError('unsupported_algorithm', 'RSA-PSS with a mask generation function other than MGF1');
      if (!mgfParams || more) throw new DerError('expected MGF1 parameters');
      mgfDigest = hashAlgorithm(mgfParams);
    } else if (field.tag === 0xa2) saltLength = readSmallInteger(inner);
    else if (readSmallInteger(inner) !== 1) throw new PkiError('unsupported_algorithm', 'RSA-PSS with an unknown trailer field');
  }
  if (digest !== mgfDigest || !['sha256', 'sha384', 'sha512'].includes(digest)) {
    throw new PkiError('unsupported_algorithm', `RSA-PSS signatures must use SHA-256, SHA-384 or SHA-512, with MGF1 over the same hash (found ${digest} and MGF1-${mgfDigest})`);
  }
  return { digest, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength, keyType: 'rsa' };
}

/**
 *   HashAlgorithm ::= AlgorithmIdentifier { OID, NULL or absent }   -- RFC 4055 2.1: both occur in the wild
 */
function hashAlgorithm(node: DerNode): string {
  const [id, params, extra] = children(expectTag(node, Tag.SEQUENCE, 'HashAlgorithm'));
  if (extra || (params && !isNull(params))) throw new DerError('expected HashAlgorithm parameters to be NULL or absent');
  return DIGEST_BY_OID[readOid(id)] ?? 'an unsupported hash';
}

const isNull = (node: DerNode) => node.tag === Tag.NULL && node.end === node.contentStart;

/**
 * The outer signatureAlgorithm is the one part of a request its signature does not cover, so it is read
 * exactly: RSA PKCS#1 v1.5 parameters NULL (RFC 4055 5; absent tolerated, as RFC 4055 2.1 notes some
 * encoders do), ECDSA and Ed25519 parameters absent (RFC 5758 3.2, RFC 8410 3).
 *
 *   AlgorithmIdentifier ::= SEQUENCE { algorithm OBJECT IDENTIFIER, parameters ANY OPTIONAL }
 */
function signatureParams(algorithm: DerNode): VerifyParams {
  const [algOid, params, extra] = children(expectTag(algorithm, Tag.SEQUENCE, 'signature AlgorithmIdentifier'));
  if (extra) throw new DerError('expected AlgorithmIdentifier');
  const id = readOid(algOid);
  if (SHA1_SIGNATURES.has(id)) throw new PkiError('unsupported_algorithm', 'SHA-1 signatures are not accepted: sign the CSR with SHA-256 or stronger');
  if (id === OID.rsassaPss) return pssParams(params);
  const known = SIMPLE_SIGNATURES[id];
  if (!known) throw new PkiError('unsupported_algorithm', `signature algorithm ${id} is not supported`);
  if (params && !(known.keyType === 'rsa' && isNull(params))) throw new DerError(`unexpected parameters for signature algorithm ${id}`);
  return known;
}

/** X.520 / PKCS#9 / RFC 4519 attribute types a request may carry, by the names the API uses. */
const ATTRIBUTE_NAMES: Record<string, string> = {
  '2.5.4.3': 'commonName',
  '2.5.4.4': 'surname',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'country',
  '2.5.4.7': 'locality',
  '2.5.4.8': 'state',
  '2.5.4.9': 'streetAddress',
  '2.5.4.10': 'organization',
  '2.5.4.11': 'organizationalUnit',
  '2.5.4.12': 'title',
  '2.5.4.17': 'postalCode',
  '2.5.4.42': 'givenName',
  '2.5.4.43': 'initials',
  '2.5.4.46': 'dnQualifier',
  '2.5.4.65': 'pseudonym',
  '2.5.4.97': 'organizationIdentifier',
  '1.2.840.113549.1.9.1': 'emailAddress',
  '0.9.2342.19200300.100.1.1': 'userId',
  '0.9.2342.19200300.100.1.25': 'domainComponent',
};

/**
 * The subject as a flat record. A tiny reader of its own so request parsing depends on nothing but der.ts.
 *
 *   Name ::= SEQUENCE OF RelativeDistinguishedName
 *   RelativeDistinguishedName ::= SET SIZE (1..MAX) OF AttributeTypeAndValue
 *   AttributeTypeAndValue ::= SEQUENCE { type OBJECT IDENTIFIER, value ANY }   -- RFC 5280 4.1.2.4
 *
 * Values of a string type no one should use in a Name (e.g. UniversalString) are skipped, not fatal:
 * the request may still be issued with the subject the API caller gives.
 */
function readSubject(name: DerNode): CsrSubject {
  const out: CsrSubject = {};
  for (const rdn of children(name)) {
    for (const atv of children(expectTag(rdn, Tag.SET, 'RelativeDistinguishedName'))) {
      const [type, value, extra] = children(expectTag(atv, Tag.SEQUENCE, 'AttributeTypeAndValue'));
      if (!value || extra) throw new DerError('expected AttributeTypeAndValue');
      const id = readOid(type);
      const key = ATTRIBUTE_NAMES[id] ?? id;
      // Every value, repeated ones too: the certificate carries the Name byte for byte.
      if (value.tag === Tag.PRINTABLE_STRING && !PRINTABLE_STRING_ALPHABET.test(content(value).toString('latin1'))) {
        throw new PkiError('invalid_name', `the CSR's ${key} is a PrintableString with characters outside its alphabet (A-Z a-z 0-9 space '()+,-./:=?)`);
      }
      if (key in out) continue;
      try {
        out[key] = readString(value);
      } catch {
        /* not a directory string: leave it out of the record */
      }
    }
  }
  return out;
}

/**
 * A Name's attributes as a flat record, read the way a CSR's subject is (first occurrence of each type,
 * unknown types by dotted OID): for comparing a request's subject with a certificate's.
 */
export function nameAttributes(nameDer: Buffer): CsrSubject {
  try {
    return readSubject(expectTag(readDer(nameDer), Tag.SEQUENCE, 'Name'));
  } catch (error) {
    if (error instanceof DerError) throw new PkiError('invalid_name', `not a DER-encoded Name: ${error.message}`);
    throw error;
  }
}

interface Parsed {
  csr: Omit<ParsedCsr, 'publicKey' | 'keyAlgorithm'>;
  tbs: Buffer;
  signature: Buffer;
  verifyParams: VerifyParams;
  key: KeyObject;
  keyAlgorithm: KeyAlgorithm;
}

const CSR_LABELS = ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST'];

/** What a PEM label says the block is, for a refusal that names it. */
function notACsr(label: string): PkiError {
  if (/^(X509 |TRUSTED )?CERTIFICATE$/.test(label)) return new PkiError('not_a_csr', 'this is a certificate, not a certificate request (CSR)');
  return new PkiError('not_a_csr', `this is a ${label} PEM block, not a CERTIFICATE REQUEST`);
}

function parseStructure(input: string | Buffer, options: ParseCsrOptions): Parsed {
  if (typeof input !== 'string' && !Buffer.isBuffer(input)) throw new PkiError('invalid_encoding', 'the CSR must be a string or bytes');
  const max = options.maxBytes ?? MAX_CSR_BYTES;
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.length;
  if (size > max) throw new PkiError('invalid_encoding', `CSR is larger than ${max % 1024 ? `${max} bytes` : `${max / 1024} KiB`}`);
  let der: Buffer;
  try {
    der = decodeInput(input, CSR_LABELS);
  } catch (error) {
    // A single PEM block of another kind (a certificate pasted by mistake, a key) is named rather than
    // reported as bad encoding. Looked at only on failure, so a good request is decoded once.
    const text = typeof input === 'string' ? input : input.toString('latin1');
    const blocks = text.includes('-----BEGIN') ? pemBlocks(text) : [];
    if (blocks.length === 1 && !CSR_LABELS.includes(blocks[0].label)) throw notACsr(blocks[0].label);
    throw error;
  }
  try {
    const top = readDer(der);
    if (top.tag !== Tag.SEQUENCE) throw new PkiError('not_a_csr', 'not a PKCS#10 certificate request');
    const [info, algorithm, signatureBits, extra] = children(top);
    if (!info || !algorithm || !signatureBits || extra) throw new PkiError('not_a_csr', 'not a PKCS#10 certificate request');
    const fields = children(expectTag(info, Tag.SEQUENCE, 'CertificationRequestInfo'));
    if (fields[0]?.tag === 0xa0) throw new PkiError('not_a_csr', 'this is a certificate, not a certificate request (CSR)');
    const [version, subject, spki, attributes] = fields;
    if (fields.length > 4) throw new DerError('unexpected fields after the attributes');
    if (!version || version.tag !== Tag.INTEGER || readSmallInteger(version) !== 0) throw new PkiError('not_a_csr', 'not a PKCS#10 v1 certificate request');
    expectTag(subject, Tag.SEQUENCE, 'subject Name');
    // The key first: "DSA is not offered" says more than "dsa-with-SHA256 is not supported".
    const spkiDer = encoding(expectTag(spki, Tag.SEQUENCE, 'SubjectPublicKeyInfo'));
    const { key, algorithm: keyAlgorithm } = publicKeyFromSpki(Buffer.from(spkiDer));
    const verifyParams = signatureParams(algorithm);
    const keyType = key.asymmetricKeyType === 'rsa-pss' ? 'rsa' : key.asymmetricKeyType;
    if (keyType !== verifyParams.keyType) throw new PkiError('bad_signature', 'the signature algorithm does not match the key type');

    const csr: Parsed['csr'] = {
      der,
      subjectDer: Buffer.from(encoding(subject)),
      subject: readSubject(subject),
      sanDns: [],
      sanIp: [],
      sanEmail: [],
      sanUri: [],
      requestedExtensions: [],
      spkiDer: Buffer.from(spkiDer),
    };
    csr.commonName = csr.subject.commonName;
    if (attributes) readAttributes(expectTag(attributes, 0xa0, 'attributes'), csr);
    checkText(csr);
    return { csr, tbs: encoding(info), signature: readBitStringBytes(signatureBits), verifyParams, key, keyAlgorithm };
  } catch (error) {
    if (error instanceof PkiError) throw error;
    if (error instanceof DerError) throw new PkiError('invalid_encoding', `the CSR is not valid DER: ${error.message}`);
    // A structure the walk above did not foresee (a missing child read as undefined, say) is still
    // hostile input, never a crash: report it as what it is.
    throw new PkiError('invalid_encoding', 'the CSR is not a well-formed PKCS#10 structure');
  }
}

/**
 *   Attribute ::= SEQUENCE { type OBJECT IDENTIFIER, values SET OF ANY }
 *   extensionRequest values: SET OF Extensions; challengePassword: SET OF DirectoryString
 */
function readAttributes(attributes: DerNode, csr: Parsed['csr']): void {
  for (const attribute of children(attributes)) {
    const [type, values] = children(expectTag(attribute, Tag.SEQUENCE, 'Attribute'));
    const id = readOid(type);
    const [value] = children(expectTag(values, Tag.SET, 'attribute values'));
    if (id === CHALLENGE_PASSWORD && value) csr.challengePassword = readString(value);
    if (id !== EXTENSION_REQUEST || !value) continue;
    for (const extension of children(expectTag(value, Tag.SEQUENCE, 'Extensions'))) {
      // Extension ::= SEQUENCE { extnID OBJECT IDENTIFIER, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
      const parts = children(expectTag(extension, Tag.SEQUENCE, 'Extension'));
      if (parts.length !== 2 && parts.length !== 3) throw new DerError('expected Extension');
      const critical = parts.length === 3 && content(expectTag(parts[1], Tag.BOOLEAN, 'critical BOOLEAN'))[0] === 0xff;
      const extnValue = content(expectTag(parts[parts.length - 1], Tag.OCTET_STRING, 'extnValue'));
      const extOid = readOid(parts[0]);
      csr.requestedExtensions.push({ oid: extOid, critical, value: Buffer.from(extnValue) });
      if (extOid === SUBJECT_ALT_NAME) {
        const sans = decodeGeneralNames(Buffer.from(extnValue));
        csr.sanDns.push(...sans.dns);
        csr.sanIp.push(...sans.ip);
        csr.sanEmail.push(...sans.email);
        csr.sanUri.push(...sans.uri);
        const kinds: [string, string[]][] = [['DNS names', csr.sanDns], ['IP addresses', csr.sanIp], ['e-mail addresses', csr.sanEmail], ['URIs', csr.sanUri]];
        for (const [kind, names] of kinds) {
          if (names.length > MAX_SANS_PER_KIND) throw new PkiError('invalid_name', `the CSR asks for ${names.length} ${kind}: at most ${MAX_SANS_PER_KIND} are accepted`);
        }
      }
    }
  }
}

/**
 * Every value read out of the request is stored or echoed as text: a NUL or an unpaired surrogate (a
 * BMPString can hold one) is refused here, naming the attribute, rather than failing the store later.
 * The attributes the REST request bounds (a commonName of at most 64 characters, ...) are bounded the
 * same here: RFC 5280 Appendix A's upper bounds.
 */
function checkText(csr: Parsed['csr']): void {
  const values: [string, string | undefined][] = [...Object.entries(csr.subject), ['challengePassword', csr.challengePassword]];
  for (const [name, value] of values) {
    const fault = value === undefined ? null : textFault(value);
    if (fault) throw new PkiError('invalid_name', `the CSR's ${name} ${fault}`);
    const max = Object.prototype.hasOwnProperty.call(NAME_UPPER_BOUNDS, name) ? NAME_UPPER_BOUNDS[name] : undefined;
    if (max !== undefined && value !== undefined && [...value].length > max) {
      throw new PkiError('invalid_name', `the CSR's ${name} is longer than ${max} characters`);
    }
  }
  // SANs are IA5Strings (dNSName, rfc822Name, URI): printable ASCII, never control bytes or NULs.
  const sans: [string, string[]][] = [['DNS name', csr.sanDns], ['e-mail address', csr.sanEmail], ['URI', csr.sanUri]];
  for (const [kind, names] of sans) {
    const bad = names.find((name) => /[^\x20-\x7e]/.test(name));
    if (bad !== undefined) throw new PkiError('invalid_name', `the CSR's subject alternative ${kind} ${JSON.stringify(bad).slice(0, 80)} holds control or non-ASCII bytes`);
  }
}

const keyInput = (p: Parsed) =>
  p.verifyParams.padding !== undefined ? { key: p.key, padding: p.verifyParams.padding, saltLength: p.verifyParams.saltLength } : p.key;

function finish(p: Parsed, valid: boolean): ParsedCsr {
  if (!valid) throw new PkiError('bad_signature', 'the CSR signature does not verify: the request was altered or not signed by its key');
  return { ...p.csr, publicKey: p.key, keyAlgorithm: p.keyAlgorithm };
}

/** Parse and verify, the signature check on libuv's thread pool (both cores on a busy signer). */
export async function parseCsr(input: string | Buffer, options: ParseCsrOptions = {}): Promise<ParsedCsr> {
  const parsed = parseStructure(input, options);
  if (options.verifySignature === false) return finish(parsed, true);
  const valid = await new Promise<boolean>((resolve) =>
    verify(parsed.verifyParams.digest, parsed.tbs, keyInput(parsed), parsed.signature, (err, ok) => resolve(!err && ok)),
  );
  return finish(parsed, valid);
}

/** Parse and verify on the calling thread (tools, and the one-core benchmark). */
export function parseCsrSync(input: string | Buffer, options: ParseCsrOptions = {}): ParsedCsr {
  const parsed = parseStructure(input, options);
  if (options.verifySignature === false) return finish(parsed, true);
  let valid = false;
  try {
    valid = verify(parsed.verifyParams.digest, parsed.tbs, keyInput(parsed), parsed.signature);
  } catch {
    valid = false;
  }
  return finish(parsed, valid);
}
