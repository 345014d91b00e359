/**
 * CSRs no tool will write: a properly signed PKCS#10 request whose subject commonName is any string
 * type with any bytes (a UTF8String holding a NUL, a BMPString holding an unpaired surrogate), for
 * tests of what the signing lib and the services refuse.
 */
import { OID, bitString, implicitConstructed, integer, oid, sequence, setOf, tlv, toPem } from '@signet/pki';
import { generateKeyPairSync, sign } from 'node:crypto';

/** A BMPString's content: UTF-16BE code units, as given (an unpaired surrogate stays unpaired). */
export const bmpBytes = (units: number[]): Buffer => Buffer.from(units.flatMap((u) => [u >> 8, u & 0xff]));

/** A P-256 CSR, signed, whose subject is one commonName of string type `tag` with `bytes` as its content. */
export function craftedCsr(tag: number, bytes: Buffer): string {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const subject = sequence(setOf(sequence(oid('2.5.4.3'), tlv(tag, bytes))));
  const info = sequence(integer(0), subject, publicKey.export({ type: 'spki', format: 'der' }), implicitConstructed(0, Buffer.alloc(0)));
  const signature = sign('sha256', info, privateKey);
  return toPem('CERTIFICATE REQUEST', sequence(info, sequence(oid(OID.ecdsaWithSHA256)), bitString(signature)));
}
