/**
 * ACME Renewal Information (RFC 9773): a suggested renewal window per certificate, and the `replaces`
 * field of newOrder. A certificate is named by its certID: base64url(AuthorityKeyIdentifier) "."
 * base64url(serial number DER content).
 *
 * The window sits inside the last third of the certificate's lifetime and is a ninth of the lifetime
 * long; where in that third it starts is spread per certificate (a hash of its serial), so a fleet
 * issued at once does not renew at once. A revoked certificate's window is now: renew immediately.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { AcmeAccountRow, CertificateEntity, certificateBySerial } from '@signet/persistence';
import { parseCertificate } from '@signet/pki';
import { createHash } from 'node:crypto';
import { DataSource } from 'typeorm';
import { Clock } from '@signet/service';
import { AcmeProblem } from './acme-problem';
import type { AcmeDirectory } from './acme-directory';

const HOUR_MS = 3_600_000;
/** How long a client should wait before asking again (RFC 9773 4.3.3 suggests hours). */
export const RENEWAL_INFO_RETRY_AFTER_SECONDS = 6 * 3600;

export interface RenewalWindow {
  start: Date;
  end: Date;
}

/** The suggested window of a certificate valid [notBefore, notAfter], revoked or not, seen at `now`. */
export function renewalWindow(certificate: { serialNumber: string; validFrom: Date; validTo: Date; status: string }, now: Date): RenewalWindow {
  if (certificate.status === 'revoked') return { start: new Date(now.getTime() - HOUR_MS), end: new Date(now.getTime() + HOUR_MS) };
  const lifetime = certificate.validTo.getTime() - certificate.validFrom.getTime();
  const third = lifetime / 3;
  const length = lifetime / 9;
  // 0..1, the same for a certificate every time it is asked about.
  const spread = createHash('sha256').update(certificate.serialNumber).digest().readUInt32BE(0) / 0x1_0000_0000;
  const start = certificate.validTo.getTime() - third + spread * (third - length - lifetime / 18);
  return { start: new Date(Math.floor(start)), end: new Date(Math.floor(start + length)) };
}

/** certID -> (AKI, serial as Signet writes serials), or `malformed`. */
export function parseCertId(certId: unknown): { keyIdentifier: Buffer; serialNumber: string } {
  const bad = () => new AcmeProblem('malformed', 'a certID is base64url(AuthorityKeyIdentifier) "." base64url(serial number)');
  if (typeof certId !== 'string' || certId.length > 200) throw bad();
  const parts = certId.split('.');
  if (parts.length !== 2 || !parts.every((p) => /^[A-Za-z0-9_-]+$/.test(p))) throw bad();
  const keyIdentifier = Buffer.from(parts[0], 'base64url');
  const serial = Buffer.from(parts[1], 'base64url');
  if (!keyIdentifier.length || !serial.length || serial.length > 21 || serial[0] & 0x80) throw bad();
  // DER keeps a leading zero byte for a serial whose high bit is set; Signet's serial text may not.
  return { keyIdentifier, serialNumber: serial.toString('hex').toUpperCase() };
}

@Injectable()
export class AcmeRenewalInfo {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly clock: Clock,
  ) {}

  /** The certificate a certID names, in this directory's org, or a 404 `malformed`. */
  async certificateOf(directory: AcmeDirectory, certId: unknown): Promise<CertificateEntity> {
    const { keyIdentifier, serialNumber } = parseCertId(certId);
    const row =
      (await certificateBySerial(this.dataSource.manager, serialNumber)) ??
      (serialNumber.startsWith('00') ? await certificateBySerial(this.dataSource.manager, serialNumber.slice(2)) : null);
    const aki = row ? parseCertificate(row.certificateDer).authorityKeyIdentifier : null;
    if (!row || row.orgId !== directory.org.id || !aki || !aki.equals(keyIdentifier)) {
      throw new AcmeProblem('malformed', 'no certificate of this CA has that certID', { status: 404 });
    }
    return row;
  }

  async window(directory: AcmeDirectory, certId: unknown): Promise<RenewalWindow> {
    return renewalWindow(await this.certificateOf(directory, certId), this.clock.now());
  }

  /** newOrder's `replaces`: a certificate this account ordered; its id. (A second order replacing it: alreadyReplaced, by the unique index.) */
  async replaceable(account: AcmeAccountRow, certId: unknown): Promise<string> {
    const { keyIdentifier, serialNumber } = parseCertId(certId);
    const row = await certificateBySerial(this.dataSource.manager, serialNumber);
    if (!row || !parseCertificate(row.certificateDer).authorityKeyIdentifier?.equals(keyIdentifier)) {
      throw new AcmeProblem('malformed', '"replaces" names no certificate of this CA');
    }
    if (row.acmeAccountId !== account.id) throw new AcmeProblem('unauthorized', '"replaces" names a certificate another account ordered');
    if (row.supersededById) throw new AcmeProblem('alreadyReplaced', 'that certificate was already replaced');
    return row.id;
  }
}
