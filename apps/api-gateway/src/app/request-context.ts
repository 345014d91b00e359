/**
 * What the gateway's pipeline learns about a request, carried on the express request object:
 * the verified principal (or why there is none) and the audit name of the route.
 */
import type { Request } from 'express';
import type { ApiKeyEntity } from '@signet/persistence';
import type { ApiError } from '@signet/service';
import type { Principal } from './access/principal';

export interface AuditRoute {
  eventType: string;
  resourceType?: string;
}

export interface GatewayRequest extends Request {
  startedAt?: number;
  principal?: Principal;
  /** The verified key's row (absent for the operator's PLATFORM_ADMIN_KEY). */
  apiKey?: ApiKeyEntity;
  authFailure?: ApiError;
  auditRoute?: AuditRoute;
}

/** The caller's address as the audit log records it (`trust proxy` decides how X-Forwarded-For counts). */
export const clientIp = (req: Request): string | null => req.ip ?? req.socket.remoteAddress ?? null;
