/**
 * The outside-ACME order queue (API.md section 8): orders at outside ACME CAs run as jobs here, worked
 * by the gateways, never by the signer (it holds keys and talks to no outside host). Producers: the
 * gateway (POST /certificates/obtain, a renewal asked for by API) and the signer's renewal sweep, which
 * hands outside-ACME certificates that are due to the gateways this way. One job per order (its id);
 * a job carries only the order's id: everything else, secrets included, stays in the database.
 */
import { IsUUID } from 'class-validator';

export const EXTERNAL_ACME_QUEUE = 'external-acme-orders';
export const EXTERNAL_ACME_JOB = 'obtain';

export class ExternalAcmeOrderJob {
  @IsUUID() orderId: string;
}

/**
 * How an order job is added, by every producer alike: its id is the order's (adding it twice is one
 * job); a failed attempt (the CA or a DNS provider unreachable) is retried with backoff, and the
 * worker settles the order `invalid` at the last one.
 */
export const externalAcmeJobOptions = (orderId: string) => ({
  jobId: `order-${orderId}`,
  attempts: 3,
  backoff: { type: 'exponential' as const, delay: 5_000 },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
});
