/**
 * `certificate.revoke` and `ca.revoke`: mark the subject revoked, sign its revoked OCSP response and
 * store both with the audit event in one transaction; then publish the response (the gateways serve it
 * at once) and schedule the issuing CA's CRL rebuild. Only then does the job complete, so the revoke
 * call's 200 means OCSP already says revoked.
 *
 * A passphrase-protected issuing CA signs only with its passphrase: such a CA's revocations need
 * caPassphrase, and its CRL is rebuilt right here (the passphrase never waits in Redis for a later job).
 *
 * A leaf whose distribution point names a CRL shard (its CA has crlShards > 1) has only that shard rebuilt
 * for it: the revocation's CRL work is its shard's size, not the CA's. The CA's full CRL follows with the
 * revocation sweep (casDueForCrl: a revocation newer than the full CRL), at most one full build per sweep
 * interval however many revocations came; a passphrase CA's full CRL is rebuilt here as well.
 *
 * Publishing is part of the job: if it fails (or the signer dies between the commit and the publish),
 * the job fails and BullMQ runs it again. The new attempt finds the subject already revoked by the
 * first (the revocation ledger, written in the revocation's transaction, names the job), publishes the
 * stored revoked response and completes as the first would have; without this the gateways could keep
 * serving the cached `good` answer until its cache entry expired. A subject revoked by anything else is
 * already_revoked, retry or not. (The audit event names the job too, for whoever reads the log.)
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import {
  CertificateAuthorityEntity, RevokedSubjectKind, caByIdOrFail, caInOrg, certificateInOrg, insertAuditEvents, lockedCa, lockedCertificate,
  markCaRevoked, markCertificateRevoked, recordCompromisedKey, recordRevocationCommit, revocationCommittedBy,
} from '@signet/persistence';
import { parseCertificate, spkiSha256 } from '@signet/pki';
import { RevokeCaJob, RevokeCertificateJob, RevokeResult } from '@signet/queue';
import { DataSource, EntityManager } from 'typeorm';
import { refuse } from '../job-failure';
import { auditActor } from '../jobs/audit-actor';
import { CaKeyring } from '../keys/ca-keyring';
import { CrlBuilder } from './crl-builder';
import { OcspSigner, SignedOcspResponse } from './ocsp-signer';
import { SignerQueue } from './signer-queue';
import { certificatesRevoked } from '../signer-metrics';

/** Which job this is, and whether an earlier attempt of it started. */
export interface JobAttempt {
  jobId: string;
  retried: boolean;
}

/**
 * Whether an earlier attempt of this job committed the revocation (the revocation ledger names the job).
 * Asked whenever the subject is found revoked, not only when BullMQ counts a retry: a job that stalled
 * while Redis was away can come back without its attempt counted (seen under a Redis restart), and one
 * indexed look-up on an already-revoked subject costs nothing on the normal path.
 */
async function committedBy(manager: EntityManager, attempt: JobAttempt, subjectKind: RevokedSubjectKind, subjectId: string): Promise<boolean> {
  return revocationCommittedBy(manager, { jobId: attempt.jobId, subjectKind, subjectId });
}

@Injectable()
export class RevokeHandlers {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly keyring: CaKeyring,
    private readonly ocsp: OcspSigner,
    private readonly crls: CrlBuilder,
    private readonly queue: SignerQueue,
  ) {}

  /** `attempt.retried`: an earlier attempt of this job (`attempt.jobId`) started, and may have committed. */
  async revokeCertificate(job: RevokeCertificateJob, attempt: JobAttempt): Promise<RevokeResult> {
    const row = await certificateInOrg(this.dataSource.manager, job.certificateId, job.orgId);
    if (!row) throw refuse('not_found', 'certificate not found');
    if (!row.caId) throw refuse('conflict', 'no Signet CA issued this certificate: only its issuer can revoke it');
    const ca = await caByIdOrFail(this.dataSource.manager, row.caId);
    const passphrase = this.keyring.openPassphrase(job.sealedCaPassphrase, ca.id);
    const issuer = await this.keyring.issuer(ca, passphrase);
    const revokedAt = new Date(Math.floor(Date.now() / 1000) * 1000);
    let stored: SignedOcspResponse[] = [];
    let finishedEarlier: { revokedAt: Date | null } | null = null;
    await this.dataSource.transaction(async (manager) => {
      const locked = await lockedCertificate(manager, row.id);
      if (locked!.status === 'revoked') {
        if (await committedBy(manager, attempt, 'certificate', row.id)) return void (finishedEarlier = { revokedAt: locked!.revokedAt });
        throw refuse('already_revoked', 'certificate is already revoked', { revokedAt: locked!.revokedAt?.toISOString() });
      }
      await markCertificateRevoked(manager, row.id, { revokedAt, reason: job.reason, comments: job.comments ?? null });
      await recordRevocationCommit(manager, { jobId: attempt.jobId, subjectKind: 'certificate', subjectId: row.id });
      // Its key is refused for any later issuance in this org (a renewal with the same CSR key included).
      if (job.reason === 'keyCompromise') {
        const spki = spkiSha256(parseCertificate(row.certificateDer).publicKey);
        await recordCompromisedKey(manager, { orgId: row.orgId, spkiSha256: spki, certificateId: row.id, revokedAt });
      }
      const response = await this.ocsp.sign(ca, issuer, { serialNumber: row.serialNumber, certificateId: row.id, revokedAt, reason: job.reason });
      stored = await this.ocsp.store(manager, [response]);
      await insertAuditEvents(manager, [{
        orgId: job.orgId, eventType: 'certificate.revoke', outcome: 'success', ...auditActor(job.actor),
        resourceType: 'certificate', resourceId: row.id,
        details: { reason: job.reason, revocationComments: job.comments ?? null, serialNumber: row.serialNumber, caId: ca.id, jobId: attempt.jobId },
      }]);
    });
    if (finishedEarlier) return this.finishRetry(row.serialNumber, finishedEarlier, ca, passphrase, row.crlShard);
    certificatesRevoked.inc({ ca_id: ca.id, reason: job.reason });
    await this.ocsp.publish(stored, 'revocation');
    await this.afterRevocation(ca, passphrase, row.crlShard);
    return { revokedAt: revokedAt.toISOString() };
  }

  async revokeCa(job: RevokeCaJob, attempt: JobAttempt): Promise<RevokeResult> {
    const ca = await caInOrg(this.dataSource.manager, job.caId, job.orgId);
    if (!ca) throw refuse('not_found', 'certificate authority not found');
    if (!ca.parentCaId) throw refuse('policy_violation', 'only an intermediate with a parent on this platform is revoked here: remove a root (or an imported CA) from the trust stores instead');
    const parent = await caByIdOrFail(this.dataSource.manager, ca.parentCaId);
    const passphrase = this.keyring.openPassphrase(job.sealedParentPassphrase, parent.id);
    const issuer = await this.keyring.issuer(parent, passphrase);
    const revokedAt = new Date(Math.floor(Date.now() / 1000) * 1000);
    let stored: SignedOcspResponse[] = [];
    let finishedEarlier: { revokedAt: Date | null } | null = null;
    await this.dataSource.transaction(async (manager) => {
      const locked = await lockedCa(manager, ca.id);
      if (locked!.status === 'revoked') {
        if (await committedBy(manager, attempt, 'ca', ca.id)) return void (finishedEarlier = { revokedAt: locked!.revokedAt });
        throw refuse('already_revoked', 'certificate authority is already revoked');
      }
      await markCaRevoked(manager, ca.id, { revokedAt, reason: job.reason });
      await recordRevocationCommit(manager, { jobId: attempt.jobId, subjectKind: 'ca', subjectId: ca.id });
      const response = await this.ocsp.sign(parent, issuer, { serialNumber: ca.serialNumber, subjectCaId: ca.id, revokedAt, reason: job.reason });
      stored = await this.ocsp.store(manager, [response]);
      await insertAuditEvents(manager, [{
        orgId: job.orgId, eventType: 'ca.revoke', outcome: 'success', ...auditActor(job.actor),
        resourceType: 'ca', resourceId: ca.id, details: { reason: job.reason, serialNumber: ca.serialNumber, parentCaId: parent.id, jobId: attempt.jobId },
      }]);
    });
    if (finishedEarlier) return this.finishRetry(ca.serialNumber, finishedEarlier, parent, passphrase);
    certificatesRevoked.inc({ ca_id: parent.id, reason: job.reason });
    await this.ocsp.publish(stored, 'revocation');
    await this.afterRevocation(parent, passphrase);
    return { revokedAt: revokedAt.toISOString() };
  }

  /** What an attempt that committed but did not finish left undone: publish what is stored, schedule the CRL. */
  private async finishRetry(
    serialNumber: string, { revokedAt }: { revokedAt: Date | null }, issuingCa: CertificateAuthorityEntity, passphrase?: string, shard: number | null = null,
  ): Promise<RevokeResult> {
    await this.ocsp.publish(await this.ocsp.storedFor([serialNumber]), 'revocation');
    await this.afterRevocation(issuingCa, passphrase, shard);
    return { revokedAt: (revokedAt ?? new Date()).toISOString() };
  }

  /**
   * The CRL the revoked certificate's distribution point names (its shard, or the full CRL) and, for a shard,
   * the full CRL too: a delayed, de-duplicated rebuild each, or right now for a passphrase CA. The full CRL is
   * scheduled here rather than left to the sweep: the sweep finds a missed revocation by comparing revoked_at
   * with the CRL's thisUpdate, which a revocation committed while a build was reading misses.
   */
  private async afterRevocation(ca: CertificateAuthorityEntity, passphrase?: string, shard: number | null = null): Promise<void> {
    if (ca.hasPassphrase) {
      if (shard !== null) await this.crls.build(ca.id, passphrase, shard);
      await this.crls.build(ca.id, passphrase);
      return;
    }
    if (shard !== null) await this.queue.scheduleCrl(ca.id, shard);
    await this.queue.scheduleCrl(ca.id);
  }
}
