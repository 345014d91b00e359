/**
 * An onRequest hook, ahead of the body reader, so that even a refused body (413, bad JSON) is audited:
 * it stamps the start time and, when the response has gone with a 4xx/5xx, records the failure. Ops
 * endpoints are left out (a failing probe is not a security event).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiError } from '@signet/service';
import type { GatewayRequest } from '../request-context';
import type { AuditService } from './audit.service';

const OPS_PATHS = /^\/(healthz|readyz|metrics)$/;

export const auditFailures = (audit: AuditService) => async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
  const req = request as unknown as GatewayRequest;
  req.startedAt = Date.now();
  reply.raw.once('finish', () => {
    if (reply.statusCode < 400 || OPS_PATHS.test(req.path)) return;
    audit.recordFailure(req, reply.statusCode, (reply as unknown as { locals?: { apiError?: ApiError } }).locals?.apiError);
  });
};
