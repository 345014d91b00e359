/**
 * PKCS#12 (RFC 7292) export of a private key with its certificate chain, in the form OpenSSL 3 writes
 * by default: the key in a pkcs8ShroudedKeyBag (PBES2: PBKDF2-HMAC-SHA256 + AES-256-CBC, by
 * node:crypto), certificates in CertBags, integrity by an HMAC-SHA256 MAC keyed with the PKCS#12 KDF.
 *
 *   PFX ::= SEQUENCE { version INTEGER (v3), authSafe ContentInfo, macData MacData OPTIONAL }
 *   AuthenticatedSafe ::= SEQUENCE OF ContentInfo          -- each: data, OCTET STRING of SafeContents
 *   SafeBag ::= SEQUENCE { bagId OBJECT IDENTIFIER, bagValue [0] EXPLICIT ANY, bagAttributes SET OF OPTIONAL }
 *   MacData ::= SEQUENCE { mac DigestInfo, macSalt OCTET STRING, iterations INTEGER DEFAULT 1 }
 *
 * Why not node-forge: forge reads only RSA keys, so EC and Ed25519 bundles would need the PKCS#8 wrapped
 * by hand anyway, and its PBES2 output is slower pure JS. Here node:crypto encrypts the PKCS#8 (the same
 * PBES2 OpenSSL 3 writes) for every key type, and the rest is a few lines of DER.
 * Limit: the certificates are not encrypted (RFC 7292 allows it; OpenSSL 3 encrypts them by default), and
 * importers that only know the legacy 3DES/RC2 forms (macOS before 14, Windows before Server 2019) will not
 * read AES-256 bundles: exportLegacyPkcs12 writes the form they read.
 */
import { KeyObject, createCipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { explicit, integer, nullValue, octetString, oid, sequence, setOf } from './der';

const DATA = '1.2.840.113549.1.7.1';
const KEY_BAG = '1.2.840.113549.1.12.10.1.2';
const CERT_BAG = '1.2.840.113549.1.12.10.1.3';
const X509_CERTIFICATE = '1.2.840.113549.1.9.22.1';
const LOCAL_KEY_ID = '1.2.840.113549.1.9.21';
const SHA256 = '2.16.840.1.101.3.4.2.1';
const ITERATIONS = 2048;

const dataContentInfo = (bytes: Buffer) => sequence(oid(DATA), explicit(0, octetString(bytes)));
const localKeyId = (id: Buffer) => setOf(sequence(oid(LOCAL_KEY_ID), setOf(octetString(id))));

/**
 * RFC 7292 appendix B.2: the PKCS#12 key derivation, for `id` 1 (cipher key), 2 (IV) or 3 (MAC key),
 * `length` bytes with hash `hash` (block size v = 64 bytes for SHA-1 and SHA-256).
 */
function pkcs12Kdf(hash: 'sha1' | 'sha256', id: 1 | 2 | 3, password: string, salt: Buffer, iterations: number, length: number): Buffer {
  const v = 64;
  const fill = (bytes: Buffer) => {
    if (!bytes.length) return Buffer.alloc(0);
    const out = Buffer.alloc(v * Math.ceil(bytes.length / v));
    for (let i = 0; i < out.length; i++) out[i] = bytes[i % bytes.length];
    return out;
  };
  const bmp = Buffer.from(`${password}\0`, 'utf16le').swap16();
  const diversifier = Buffer.alloc(v, id);
  const input = Buffer.concat([fill(salt), fill(bmp)]);
  const output: Buffer[] = [];
  for (let produced = 0; produced < length; ) {
    let block = Buffer.concat([diversifier, input]);
    for (let i = 0; i < iterations; i++) block = createHash(hash).update(block).digest();
    output.push(block);
    produced += block.length;
    if (produced >= length) break;
    // I_j = (I_j + B + 1) mod 2^(v*8) for each v-byte block of I, B being the block repeated to v bytes.
    const b = fill(block);
    for (let j = 0; j < input.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = input[j + k] + b[k] + carry;
        input[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return Buffer.concat(output).subarray(0, length);
}

/** `certificates`: the key's certificate first, then its chain. */
export function exportPkcs12(privateKey: KeyObject, certificates: Buffer[], password: string): Buffer {
  const keyId = createHash('sha1').update(certificates[0]).digest();
  const encryptedKey = privateKey.export({ type: 'pkcs8', format: 'der', cipher: 'aes-256-cbc', passphrase: password }) as Buffer;
  const keyBag = sequence(oid(KEY_BAG), explicit(0, encryptedKey), localKeyId(keyId));
  const certBags = certificates.map((der, i) =>
    sequence(oid(CERT_BAG), explicit(0, sequence(oid(X509_CERTIFICATE), explicit(0, octetString(der)))), ...(i === 0 ? [localKeyId(keyId)] : [])),
  );
  const authenticatedSafe = sequence(dataContentInfo(sequence(...certBags)), dataContentInfo(sequence(keyBag)));
  const salt = randomBytes(16);
  const mac = createHmac('sha256', pkcs12Kdf('sha256', 3, password, salt, ITERATIONS, 32)).update(authenticatedSafe).digest();
  const macData = sequence(sequence(sequence(oid(SHA256), nullValue()), octetString(mac)), octetString(salt), integer(ITERATIONS));
  return sequence(integer(3), dataContentInfo(authenticatedSafe), macData);
}

const PBE_SHA1_3DES = '1.2.840.113549.1.12.1.3';
const SHA1 = '1.3.14.3.2.26';

/**
 * The same bundle in the legacy form older Windows, macOS and Java read: the key encrypted with
 * pbeWithSHAAnd3-KeyTripleDES-CBC (RFC 7292 appendix C) and a SHA-1 MAC. Weaker than exportPkcs12's
 * AES-256: only for readers that know nothing else (legacy=true). Certificates stay unencrypted, which
 * every reader accepts.
 */
export function exportLegacyPkcs12(privateKey: KeyObject, certificates: Buffer[], password: string): Buffer {
  const keyId = createHash('sha1').update(certificates[0]).digest();
  const keySalt = randomBytes(8);
  const cipher = createCipheriv('des-ede3-cbc', pkcs12Kdf('sha1', 1, password, keySalt, ITERATIONS, 24), pkcs12Kdf('sha1', 2, password, keySalt, ITERATIONS, 8));
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' }) as Buffer;
  const encryptedKey = sequence(sequence(oid(PBE_SHA1_3DES), sequence(octetString(keySalt), integer(ITERATIONS))), octetString(Buffer.concat([cipher.update(pkcs8), cipher.final()])));
  const keyBag = sequence(oid(KEY_BAG), explicit(0, encryptedKey), localKeyId(keyId));
  const certBags = certificates.map((der, i) =>
    sequence(oid(CERT_BAG), explicit(0, sequence(oid(X509_CERTIFICATE), explicit(0, octetString(der)))), ...(i === 0 ? [localKeyId(keyId)] : [])),
  );
  const authenticatedSafe = sequence(dataContentInfo(sequence(...certBags)), dataContentInfo(sequence(keyBag)));
  const salt = randomBytes(8);
  const mac = createHmac('sha1', pkcs12Kdf('sha1', 3, password, salt, ITERATIONS, 20)).update(authenticatedSafe).digest();
  const macData = sequence(sequence(sequence(oid(SHA1), nullValue()), octetString(mac)), octetString(salt), integer(ITERATIONS));
  return sequence(integer(3), dataContentInfo(authenticatedSafe), macData);
}
