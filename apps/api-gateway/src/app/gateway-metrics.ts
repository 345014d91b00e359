/**
 * The gateway's domain metrics (API.md section 12), updated in place on the request path (no SQL, no
 * Redis); webhook deliveries are counted by their worker (webhooks/webhook-deliveries.queue.ts), ACME
 * validations by theirs (acme/acme-validation.queue.ts). Every bounded label set exports from start-up (0).
 */
import type { AcmeChallengeType } from '@signet/persistence';
import { metricsRegistry, startAtZero } from '@signet/service';
import { Counter, Histogram } from 'prom-client';
import { RATE_LIMIT_CLASSES } from './rate-limit/rate-limit.decorator';

const registers = [metricsRegistry];

export const issueDuration = new Histogram({
  name: 'signet_issue_duration_seconds', help: 'POST /v1/certificates, from the request reaching the handler to its answer (signing included)',
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers,
});
export const rateLimited = new Counter({
  name: 'signet_rate_limited_total', help: 'Requests refused with 429, by rate-limit class',
  labelNames: ['class'] as const, registers,
});
export const ocspRequests = new Counter({
  name: 'signet_ocsp_requests_total', help: 'OCSP requests answered, by response status (successful, malformedRequest, internalError, tryLater, unauthorized)',
  labelNames: ['status'] as const, registers,
});
export const webhookDeliveries = new Counter({
  name: 'signet_webhook_deliveries_total', help: 'Webhook delivery attempts by outcome: delivered (2xx), retried (failed; another attempt follows), failed (the last attempt failed: given up)',
  labelNames: ['outcome'] as const, registers,
});
export const acmeOrders = new Counter({
  name: 'signet_acme_orders_total',
  help: 'ACME orders: created; valid (a certificate issued); invalid (a failed challenge validation, a refused finalize, a deactivated authorization or account)',
  labelNames: ['status'] as const, registers,
});
export const acmeValidations = new Counter({
  name: 'signet_acme_validations_total', help: 'ACME challenge validation attempts by type and outcome (valid, invalid, retried)',
  labelNames: ['type', 'outcome'] as const, registers,
});

/** RFC 6960 OCSPResponseStatus values, by number (4 is not used: `unknown`, as is an unreadable answer). */
const OCSP_STATUSES = ['successful', 'malformedRequest', 'internalError', 'tryLater', 'unknown', 'sigRequired', 'unauthorized'];

/** Every challenge type the ACME server offers (a Record, so a new type of the persistence union must be added here). */
const ACME_CHALLENGE_TYPES: Record<AcmeChallengeType, true> = { 'http-01': true, 'dns-01': true, 'tls-alpn-01': true };

startAtZero(rateLimited, { class: RATE_LIMIT_CLASSES });
startAtZero(ocspRequests, { status: OCSP_STATUSES.filter((status) => status !== 'unknown') });
startAtZero(webhookDeliveries, { outcome: ['delivered', 'retried', 'failed'] });
startAtZero(acmeOrders, { status: ['created', 'valid', 'invalid'] });
startAtZero(acmeValidations, { type: Object.keys(ACME_CHALLENGE_TYPES), outcome: ['valid', 'invalid', 'retried'] });

/**
 * The status of an OCSP response's DER: OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED, ... },
 * the ENUMERATED right after the SEQUENCE's header (short or long length form). No parsing beyond it.
 */
export function ocspStatusOf(der: Buffer): string {
  const lengthBytes = der[1] & 0x80 ? (der[1] & 0x7f) + 1 : 1;
  const at = 1 + lengthBytes;
  return der[at] === 0x0a && der[at + 1] === 1 ? OCSP_STATUSES[der[at + 2]] ?? 'unknown' : 'unknown';
}
