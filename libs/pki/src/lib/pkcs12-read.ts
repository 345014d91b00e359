/**
 * Reading PKCS#12 (PFX) files from elsewhere with node-forge, which opens what node:crypto cannot: the
 * legacy forms Windows and Java still write (pbeWithSHAAnd3-KeyTripleDES-CBC keys, RC2-40 certificate
 * bags, SHA-1 MACs) as well as OpenSSL 3's PBES2/AES-256 and SHA-256 MAC. forge turns only RSA keys into
 * key objects, so the decrypted PKCS#8 is taken as DER and opened by node:crypto (EC and Ed25519 too).
 */
import forge from 'node-forge';
import { KeyObject, createPrivateKey } from 'node:crypto';
import { BundleInputError } from './errors';

const MAX_PFX_BYTES = 256 * 1024;

export interface Pkcs12Contents {
  certificates: Buffer[];
  privateKey: KeyObject | null;
}

export function readPkcs12(der: Buffer, password: string): Pkcs12Contents {
  if (der.length > MAX_PFX_BYTES) throw new BundleInputError('pfx', `the PKCS#12 file is larger than ${MAX_PFX_BYTES / 1024} KiB`);
  let p12: forge.pkcs12.Pkcs12Pfx;
  try {
    p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(forge.util.createBuffer(der.toString('binary'))), false, password);
  } catch (error) {
    const message = (error as Error).message ?? '';
    if (/MAC could not be verified|Invalid password|decrypt/i.test(message)) throw new BundleInputError('pfxPassword', 'the PKCS#12 password is wrong (its integrity check or its encryption does not open with it)');
    throw new BundleInputError('pfx', 'the file is not a PKCS#12 (PFX) bundle');
  }
  const bagsOf = (type: string) => p12.getBags({ bagType: type })[type] ?? [];
  // forge parses RSA certificates into bag.cert and keeps others (EC, Ed25519) as bag.asn1.
  const certificates = bagsOf(forge.pki.oids.certBag).map((bag) =>
    Buffer.from(forge.asn1.toDer(bag.cert ? forge.pki.certificateToAsn1(bag.cert) : (bag.asn1 as forge.asn1.Asn1)).getBytes(), 'binary'));
  const keyBags = [...bagsOf(forge.pki.oids.pkcs8ShroudedKeyBag), ...bagsOf(forge.pki.oids.keyBag)];
  if (keyBags.length > 1) throw new BundleInputError('pfx', 'the PKCS#12 file holds more than one private key');
  let privateKey: KeyObject | null = null;
  if (keyBags.length) {
    const bag = keyBags[0];
    // A decrypted shrouded bag keeps its PrivateKeyInfo in asn1; an RSA key is also in bag.key.
    const info = bag.key ? forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(bag.key as forge.pki.rsa.PrivateKey)) : bag.asn1;
    try {
      privateKey = createPrivateKey({ key: Buffer.from(forge.asn1.toDer(info as forge.asn1.Asn1).getBytes(), 'binary'), format: 'der', type: 'pkcs8' });
    } catch {
      throw new BundleInputError('pfx', 'the private key in the PKCS#12 file cannot be read');
    }
  }
  return { certificates, privateKey };
}
