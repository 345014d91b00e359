/**
 * Coalesces issuance requests into `certificate.issueMany` jobs. Requests arriving within
 * ISSUE_COALESCE_MS of the first one (or until ISSUE_COALESCE_MAX are waiting) travel as one job: one
 * queue round trip, one signer transaction and one read of the new rows for the whole group, instead of
 * one each per certificate. Each request still gets its own answer or its own refusal; crash safety and
 * idempotency stay per item (every item carries its issuanceKey, unique in the database).
 */
import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { CertificateEntity } from '@signet/persistence';
import { IssueCertificateJob, IssueCertificateResult, IssueManyJob, IssueManyResult, SIGNER_JOBS } from '@signet/queue';
import { SignerClient, apiErrorOf } from '@signet/service';
import { randomUUID } from 'node:crypto';
import { DataSource, In } from 'typeorm';
import { GATEWAY_CONFIG } from '../gateway-config.token';
import type { GatewayConfig } from '../gateway.config';

export interface IssuedCertificate extends IssueCertificateResult {
  row: CertificateEntity;
}

interface Waiting {
  job: IssueCertificateJob;
  resolve: (issued: IssuedCertificate) => void;
  reject: (error: unknown) => void;
}

@Injectable()
export class IssuanceBatcher {
  private waiting: Waiting[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly signer: SignerClient,
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {}

  issue(job: IssueCertificateJob): Promise<IssuedCertificate> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ job, resolve, reject });
      if (this.waiting.length >= this.config.ISSUE_COALESCE_MAX) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.config.ISSUE_COALESCE_MS);
    });
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const group = this.waiting;
    this.waiting = [];
    if (group.length) void this.send(group);
  }

  private async send(group: Waiting[]): Promise<void> {
    try {
      const data: IssueManyJob = { items: group.map((w) => w.job) };
      const { outcomes } = await this.signer.run<IssueManyResult>(SIGNER_JOBS.issueMany, data, `issue-many-${randomUUID()}`);
      const ids = outcomes.flatMap((o) => ('certificateId' in o ? [o.certificateId] : []));
      const rows = ids.length ? await this.dataSource.getRepository(CertificateEntity).findBy({ id: In(ids) }) : [];
      const byId = new Map(rows.map((row) => [row.id, row]));
      group.forEach((w, i) => {
        const outcome = outcomes[i];
        if (!outcome) return w.reject(apiErrorOf({ code: 'internal', message: 'the signer returned no outcome for this request' }));
        if ('error' in outcome) return w.reject(apiErrorOf(outcome.error));
        const row = byId.get(outcome.certificateId);
        if (!row) return w.reject(apiErrorOf({ code: 'internal', message: 'the issued certificate could not be read back' }));
        w.resolve({ ...outcome, row });
      });
    } catch (error) {
      for (const w of group) w.reject(error);
    }
  }
}
