/**
 * revokeCert (RFC 8555 7.6), by the account that ordered the certificate (or one holding valid
 * authorizations for all its names), or by the certificate's own key. The revocation is the REST one:
 * the signer marks it, signs the revoked OCSP response before answering, and schedules the CRL.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { acmeAccountAuthorizedFor, certificateByFingerprint } from '@signet/persistence';
import { RevokeCertificateJob, SIGNER_JOBS } from '@signet/queue';
import { ApiError, Clock, SignerClient } from '@signet/service';
import { JWK, calculateJwkThumbprint } from 'jose';
import { X509Certificate, createHash, randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import type { AcmeDirectory } from './acme-directory';
import type { VerifiedJws } from './acme-jws';
import { AcmeProblem } from './acme-problem';

/** RFC 5280 reason codes an ACME client may give (certificateHold and removeFromCRL are not revocations a subscriber asks for). */
const REASONS: Record<number, RevokeCertificateJob['reason']> = {
  0: 'unspecified', 1: 'keyCompromise', 2: 'caCompromise', 3: 'affiliationChanged', 4: 'superseded', 5: 'cessationOfOperation', 9: 'privilegeWithdrawn',
};

@Injectable()
export class AcmeRevocationService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly signer: SignerClient,
    private readonly clock: Clock,
  ) {}

  async revoke(directory: AcmeDirectory, request: VerifiedJws<{ certificate?: unknown; reason?: unknown }>, ip: string): Promise<void> {
    const payload = request.payload;
    if (typeof payload?.certificate !== 'string' || !/^[A-Za-z0-9_-]+$/.test(payload.certificate)) {
      throw new AcmeProblem('malformed', 'revokeCert takes {"certificate": base64url DER, "reason"?: RFC 5280 code}');
    }
    const reasonCode = payload.reason ?? 0;
    const reason = typeof reasonCode === 'number' ? REASONS[reasonCode] : undefined;
    if (!reason) throw new AcmeProblem('badRevocationReason', `reason must be one of ${Object.keys(REASONS).join(', ')}`);
    const der = Buffer.from(payload.certificate, 'base64url');
    const row = await certificateByFingerprint(this.dataSource.manager, createHash('sha256').update(der).digest('hex'));
    if (!row || row.orgId !== directory.org.id) throw new AcmeProblem('malformed', 'this CA did not issue that certificate', { status: 404 });

    if (request.jwk) {
      const certificateKey = new X509Certificate(row.certificateDer).publicKey.export({ format: 'jwk' }) as JWK;
      if ((await calculateJwkThumbprint(certificateKey, 'sha256').catch(() => '')) !== request.jwk.thumbprint) {
        throw new AcmeProblem('unauthorized', 'the JWS key is not the certificate\'s key');
      }
    } else {
      const account = request.account!;
      const identifiers = [...row.sanDns.map((value) => ({ type: 'dns' as const, value: value.replace(/^\*\./, '') })), ...row.sanIp.map((value) => ({ type: 'ip' as const, value }))];
      const allowed = row.acmeAccountId === account.id || (await acmeAccountAuthorizedFor(this.dataSource.manager, account.id, identifiers, this.clock.now()));
      if (!allowed) throw new AcmeProblem('unauthorized', 'this account neither ordered the certificate nor holds authorizations for all its names');
    }
    if (row.status === 'revoked') throw new AcmeProblem('alreadyRevoked', 'the certificate is already revoked');
    const actor: RevokeCertificateJob['actor'] = request.account
      ? { type: 'acmeAccount', id: request.account.id, name: `acme:${directory.profile.slug}`, ip }
      : { type: 'acmeAccount', id: null, name: `acme:${directory.profile.slug} (certificate key)`, ip };
    try {
      await this.signer.run(SIGNER_JOBS.revokeCertificate, { certificateId: row.id, orgId: row.orgId, reason, comments: 'revoked over ACME', actor }, `revoke-${row.id}-${randomUUID()}`);
    } catch (error) {
      if (error instanceof ApiError && error.code === 'already_revoked') throw new AcmeProblem('alreadyRevoked', 'the certificate is already revoked');
      throw error;
    }
  }
}
