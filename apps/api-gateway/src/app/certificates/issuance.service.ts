/**
 * Sending an issuance to the signer and answering with it: the one path REST issue, batch, renew and
 * approved requests share. CA keys never come here; a managed key crosses the queue sealed to a
 * one-time key of this request (libs/queue sealed-box).
 */
import { Injectable } from '@nestjs/common';
import { IssuedRow } from '@signet/persistence';
import { ExportKeyJob, IssueCertificateJob, SIGNER_JOBS, newRecipient, open } from '@signet/queue';
import { ApiError, IssuanceBatcher, SignerClient } from '@signet/service';
import { randomUUID } from 'node:crypto';
import { mayOnCa } from '../access/principal';
import { CasService } from '../cas/cas.service';
import { certificatePem, certificateView } from './certificate.view';
import type { OrgCaller } from '../access/caller';

/** The audit actor of a request made with an org key. */
export function actorOf(caller: OrgCaller): IssueCertificateJob['actor'] {
  const principal = caller.principal;
  return { type: 'apiKey', id: principal.apiKeyId, name: principal.name, ip: caller.ip };
}

@Injectable()
export class IssuanceService {
  constructor(
    private readonly signer: SignerClient,
    private readonly cas: CasService,
    private readonly batcher: IssuanceBatcher<IssuedRow>,
  ) {}

  /** Send an issuance to the signer and answer with the certificate, its chain and (managed) its key. */
  async submit(caller: OrgCaller, job: IssueCertificateJob, caPassphrase: string | undefined) {
    const principal = caller.principal;
    const ca = await this.cas.knownReadable(principal, job.caId);
    const recipient = job.mode === 'managed' ? newRecipient() : null;
    job.sealedCaPassphrase = await this.signer.sealPassphrase(caPassphrase, ca.id);
    job.recipientKey = recipient?.publicKeyBase64;
    const issued = await this.batcher.issue(job);
    const chain = await this.cas.chain(principal, job.caId);
    const response = { certificate: { ...certificateView(issued.row), certificatePem: certificatePem(issued.row), chainPem: chain.chain.join('') } };
    if (!recipient) return response;
    if (issued.sealedPrivateKey) return { ...response, privateKey: open(issued.sealedPrivateKey, recipient.privateKey) };
    // A retried job found this certificate committed by a signer that died before answering: the key it
    // made left with it. A stored key can still be handed out; otherwise say so rather than answer
    // 201 without a key.
    if (issued.row.hasStoredKey) return { ...response, privateKey: await this.storedKey(caller, issued.row) };
    throw new ApiError('conflict', 'the certificate was issued but its private key was lost when a signer stopped mid-request: revoke it and issue again', {
      certificateId: issued.row.id,
    });
  }

  /** The signer's checks of an issuance, without signing it (a request that waits for approval). */
  async check(job: IssueCertificateJob): Promise<void> {
    await this.signer.run(SIGNER_JOBS.checkIssuance, job, `check-${job.issuanceKey}-${randomUUID()}`);
  }

  /** A stored managed key, to keys that may issue on its CA; every hand-out is audited by the signer. */
  async storedKey(caller: OrgCaller, row: Pick<IssuedRow, 'id' | 'orgId' | 'caId'>): Promise<string> {
    const principal = caller.principal;
    if (!mayOnCa(principal, row.caId, 'issue')) throw ApiError.forbidden(`a private key is handed out only to keys that may issue on certificate authority ${row.caId}`);
    const recipient = newRecipient();
    const job: ExportKeyJob = {
      certificateId: row.id,
      orgId: row.orgId,
      recipientKey: recipient.publicKeyBase64,
      actor: { type: 'apiKey', id: principal.apiKeyId, name: principal.name, ip: caller.ip },
    };
    const result = await this.signer.run(SIGNER_JOBS.exportKey, job, `key-${row.id}-${randomUUID()}`);
    return open(result.sealedPrivateKey, recipient.privateKey);
  }
}
