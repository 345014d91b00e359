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
 * read AES-256 bundles.
 */
import { KeyObject, createHash, createHmac, randomBytes } from 'node:crypto';
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

/** RFC 7292 B.2 with ID 3 (MAC key), for SHA-256: one block of output is the whole 32-byte key. */
function macKey(password: string, salt: Buffer, iterations: number): Buffer {
  const v = 64;
  const fill = (bytes: Buffer) => {
    if (!bytes.length) return Buffer.alloc(0);
    const out = Buffer.alloc(v * Math.ceil(bytes.length / v));
    for (let i = 0; i < out.length; i++) out[i] = bytes[i % bytes.length];
    return out;
  };
  const bmp = Buffer.from(`${password}\0`, 'utf16le').swap16();
  let block = Buffer.concat([Buffer.alloc(v, 3), fill(salt), fill(bmp)]);
  for (let i = 0; i < iterations; i++) block = createHash('sha256').update(block).digest();
  return block;
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
  const mac = createHmac('sha256', macKey(password, salt, ITERATIONS)).update(authenticatedSafe).digest();
  const macData = sequence(sequence(sequence(oid(SHA256), nullValue()), octetString(mac)), octetString(salt), integer(ITERATIONS));
  return sequence(integer(3), dataContentInfo(authenticatedSafe), macData);
}
