/**
 * Coalesces issuance requests into `certificate.issueMany` jobs. Requests arriving within
 * ISSUE_COALESCE_MS of the first one (or until ISSUE_COALESCE_MAX are waiting) travel as one job: one
 * queue round trip and one signer transaction for the whole group, instead of one each per certificate;
 * each outcome carries the row the signer stored, so nothing is read back. Each request still gets its own answer or its own refusal; crash safety and
 * idempotency stay per item (every item carries its issuanceKey, unique in the database).
 *
 * A job is answered when its last item is done, so what travels together must cost alike and belong to
 * one tenant (issue 18, finding 7): requests wait in lanes, one per org, and an expensive key generation
 * (managed RSA-3072/4096, seconds each) is never coalesced at all: it travels alone, so it holds no
 * cheap item hostage, and the signer's per-org share (ORG_ISSUE_CONCURRENCY) counts it as one job.
 */
import { IssueCertificateJob, IssueCertificateResult, IssueManyJob, IssuedCertificate, SIGNER_JOBS } from '@signet/queue';
import { randomUUID } from 'node:crypto';
import { SignerClient, apiErrorOf } from './signer-client';
import { activeTraceContext, inBatchSpan } from './tracing';

export type Issued<Row> = IssueCertificateResult & { row: Row };

interface Waiting<Row> {
  job: IssueCertificateJob;
  /** The request's trace context (tracing on only), for the batch's span: parent of the first, links to the others. */
  trace?: ReturnType<typeof activeTraceContext>;
  resolve: (issued: Issued<Row>) => void;
  reject: (error: unknown) => void;
}

export interface CoalesceOptions {
  /** How long the first request of a group waits for company (ms). */
  ms: number;
  /** A full group leaves at once. */
  max: number;
}

/** Key pairs slow enough to make (seconds each) that they never share a job. */
const EXPENSIVE_KEY_ALGORITHMS: ReadonlySet<string> = new Set(['RSA-3072', 'RSA-4096']);

/**
 * Whether an item makes an expensive key pair. A managed item without keyAlgorithm gets its profile's
 * default, unknown here: it stays in its org's cheap lane (only its own org's items can wait on it).
 */
export const isExpensiveIssuance = (job: IssueCertificateJob): boolean =>
  job.mode === 'managed' && job.keyAlgorithm !== undefined && EXPENSIVE_KEY_ALGORITHMS.has(job.keyAlgorithm);

interface Lane<Row> {
  waiting: Waiting<Row>[];
  timer: NodeJS.Timeout | null;
}

/** Provided by each producer app with how it reads a signer's IssuedCertificate (libs/persistence issuedRowOf). */
export class IssuanceBatcher<Row> {
  /** The org's requests waiting for company, by org id. */
  private readonly lanes = new Map<string, Lane<Row>>();

  constructor(
    private readonly signer: SignerClient,
    private readonly options: CoalesceOptions,
    private readonly rowOf: (certificate: IssuedCertificate) => Row,
  ) {}

  issue(job: IssueCertificateJob): Promise<Issued<Row>> {
    return new Promise((resolve, reject) => {
      const waiting = { job, resolve, reject, trace: activeTraceContext() };
      if (isExpensiveIssuance(job)) return void this.send([waiting]);
      let lane = this.lanes.get(job.orgId);
      if (!lane) this.lanes.set(job.orgId, (lane = { waiting: [], timer: null }));
      lane.waiting.push(waiting);
      if (lane.waiting.length >= this.options.max) this.flush(job.orgId);
      else lane.timer ??= setTimeout(() => this.flush(job.orgId), this.options.ms);
    });
  }

  private flush(orgId: string): void {
    const lane = this.lanes.get(orgId);
    if (!lane) return;
    if (lane.timer) clearTimeout(lane.timer);
    // An idle org's lane goes: the map holds only orgs with requests waiting.
    this.lanes.delete(orgId);
    if (lane.waiting.length) void this.send(lane.waiting);
  }

  private async send(group: Waiting<Row>[]): Promise<void> {
    try {
      const data: IssueManyJob = { items: group.map((w) => w.job) };
      const { outcomes } = await inBatchSpan('issuance.batch', group.map((w) => w.trace), () => this.signer.run(SIGNER_JOBS.issueMany, data, `issue-many-${randomUUID()}`), { 'signet.batch.items': group.length });
      group.forEach((w, i) => {
        const outcome = outcomes[i];
        if (!outcome) return w.reject(apiErrorOf({ code: 'internal', message: 'the signer returned no outcome for this request' }));
        if ('error' in outcome) return w.reject(apiErrorOf(outcome.error));
        w.resolve({ ...outcome, row: this.rowOf(outcome.certificate) });
      });
    } catch (error) {
      for (const w of group) w.reject(error);
    }
  }
}
