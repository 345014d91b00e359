/**
 * Coalesces issuance requests into `certificate.issueMany` jobs. Requests arriving within
 * ISSUE_COALESCE_MS of the first one (or until ISSUE_COALESCE_MAX are waiting) travel as one job: one
 * queue round trip, one signer transaction and one read of the new rows for the whole group, instead of
 * one each per certificate. Each request still gets its own answer or its own refusal; crash safety and
 * idempotency stay per item (every item carries its issuanceKey, unique in the database).
 */
import { IssueCertificateJob, IssueCertificateResult, IssueManyJob, IssueManyResult, SIGNER_JOBS } from '@signet/queue';
import { randomUUID } from 'node:crypto';
import { SignerClient, apiErrorOf } from './signer-client';

export type Issued<Row> = IssueCertificateResult & { row: Row };

interface Waiting<Row> {
  job: IssueCertificateJob;
  resolve: (issued: Issued<Row>) => void;
  reject: (error: unknown) => void;
}

export interface CoalesceOptions {
  /** How long the first request of a group waits for company (ms). */
  ms: number;
  /** A full group leaves at once. */
  max: number;
}

/** Provided by each producer app with its loader of the new rows (one query per group). */
export class IssuanceBatcher<Row> {
  private waiting: Waiting<Row>[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly signer: SignerClient,
    private readonly options: CoalesceOptions,
    private readonly load: (ids: string[]) => Promise<Map<string, Row>>,
  ) {}

  issue(job: IssueCertificateJob): Promise<Issued<Row>> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ job, resolve, reject });
      if (this.waiting.length >= this.options.max) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.options.ms);
    });
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const group = this.waiting;
    this.waiting = [];
    if (group.length) void this.send(group);
  }

  private async send(group: Waiting<Row>[]): Promise<void> {
    try {
      const data: IssueManyJob = { items: group.map((w) => w.job) };
      const { outcomes } = await this.signer.run<IssueManyResult>(SIGNER_JOBS.issueMany, data, `issue-many-${randomUUID()}`);
      const ids = outcomes.flatMap((o) => ('certificateId' in o ? [o.certificateId] : []));
      const byId = ids.length ? await this.load(ids) : new Map<string, Row>();
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
