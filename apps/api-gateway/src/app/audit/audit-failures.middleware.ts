/**
 * Express middleware, installed before the body parser so that even a refused body (413, bad JSON) is
 * audited: it stamps the start time and, when the response finishes with a 4xx/5xx, records the
 * failure. Ops endpoints are left out (a failing probe is not a security event).
 */
import type { NextFunction, Response } from 'express';
import type { ApiError } from '@signet/service';
import type { GatewayRequest } from '../request-context';
import type { AuditService } from './audit.service';

const OPS_PATHS = /^\/(healthz|readyz|metrics)$/;

export const auditFailures = (audit: AuditService) => (req: GatewayRequest, res: Response, next: NextFunction) => {
  req.startedAt = Date.now();
  res.on('finish', () => {
    if (res.statusCode < 400 || OPS_PATHS.test(req.path)) return;
    audit.recordFailure(req, res.statusCode, (res.locals as { apiError?: ApiError }).apiError);
  });
  next();
};
