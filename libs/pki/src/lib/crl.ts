/**
 * CRL v2, built from a stream of entries.
 *
 *   CertificateList ::= SEQUENCE { tbsCertList TBSCertList, signatureAlgorithm AlgorithmIdentifier,
 *                                  signatureValue BIT STRING }
 *   TBSCertList ::= SEQUENCE {
 *     version Version (v2 = 1), signature AlgorithmIdentifier, issuer Name,
 *     thisUpdate Time, nextUpdate Time,
 *     revokedCertificates SEQUENCE OF SEQUENCE {
 *       userCertificate CertificateSerialNumber, revocationDate Time,
 *       crlEntryExtensions Extensions OPTIONAL } OPTIONAL,
 *     crlExtensions [0] EXPLICIT Extensions }                         -- RFC 5280 5.1
 *
 * Entries arrive as an async iterable (a database cursor) and are encoded straight into 1 MiB chunks,
 * so a million revoked serials cost the CRL's bytes, not a million objects.
 */
import { SIGNATURE_SCHEMES, keyAlgorithmOf } from './algorithms';
import { Tag, explicit, integer, sequence, time, tlvHeader } from './der';
import { authorityKeyIdentifier, crlNumber, reasonCode } from './extensions';
import type { Issuer } from './certificate';
import { REVOCATION_REASONS, RevocationReason } from './revocation-reasons';
import { signAndWrap } from './signing';

export interface CrlEntry {
  /** Uppercase hex, as stored. */
  serialNumber: string;
  revokedAt: Date;
  reason?: RevocationReason | null;
}

export interface CrlSpec {
  issuer: Issuer;
  crlNumber: bigint | number;
  thisUpdate: Date;
  nextUpdate: Date;
  entries: AsyncIterable<CrlEntry> | Iterable<CrlEntry>;
}

export interface BuiltCrl {
  der: Buffer;
  revokedCount: number;
}

const CHUNK = 1024 * 1024;

/** Appends encoded entries into large chunks; only the chunks are kept. */
class ChunkWriter {
  private chunks: Buffer[] = [];
  private current = Buffer.allocUnsafe(CHUNK);
  private used = 0;
  length = 0;

  write(bytes: Buffer): void {
    if (this.used + bytes.length > this.current.length) {
      this.chunks.push(this.current.subarray(0, this.used));
      this.current = Buffer.allocUnsafe(Math.max(CHUNK, bytes.length));
      this.used = 0;
    }
    bytes.copy(this.current, this.used);
    this.used += bytes.length;
    this.length += bytes.length;
  }

  finish(): Buffer[] {
    return [...this.chunks, this.current.subarray(0, this.used)];
  }
}

function encodeEntry(entry: CrlEntry): Buffer {
  const serial = integer(Buffer.from(entry.serialNumber.length % 2 ? `0${entry.serialNumber}` : entry.serialNumber, 'hex'));
  const code = entry.reason ? REVOCATION_REASONS[entry.reason] : 0;
  // RFC 5280 5.3.1: the reason code "unspecified" SHOULD be absent rather than present.
  return code ? sequence(serial, time(entry.revokedAt), sequence(reasonCode(code))) : sequence(serial, time(entry.revokedAt));
}

export async function buildCrl(spec: CrlSpec): Promise<BuiltCrl> {
  const writer = new ChunkWriter();
  let revokedCount = 0;
  for await (const entry of spec.entries) {
    writer.write(encodeEntry(entry));
    revokedCount++;
  }
  const scheme = SIGNATURE_SCHEMES[keyAlgorithmOf(spec.issuer.privateKey)];
  const head = Buffer.concat([
    integer(1),
    scheme.algorithmIdentifier,
    spec.issuer.subjectDer,
    time(spec.thisUpdate),
    time(spec.nextUpdate),
  ]);
  const revoked = revokedCount ? [tlvHeader(Tag.SEQUENCE, writer.length), ...writer.finish()] : [];
  const extensions = explicit(0, sequence(authorityKeyIdentifier(spec.issuer.keyIdentifier), crlNumber(BigInt(spec.crlNumber))));
  const bodyLength = head.length + revoked.reduce((n, b) => n + b.length, 0) + extensions.length;
  const tbs = Buffer.concat([tlvHeader(Tag.SEQUENCE, bodyLength), head, ...revoked, extensions]);
  return { der: await signAndWrap(tbs, spec.issuer.privateKey, scheme), revokedCount };
}
