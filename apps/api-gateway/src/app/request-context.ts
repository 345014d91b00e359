/**
 * What the gateway's pipeline learns about a request, carried on Fastify's request object:
 * the verified principal (or why there is none) and the audit name of the route.
 */
import type { FastifyRequest } from 'fastify';
import { isIP } from 'node:net';
import type { ApiKeyEntity } from '@signet/persistence';
import type { ApiError } from '@signet/service';
import type { Principal } from './access/principal';

export interface AuditRoute {
  eventType: string;
  resourceType?: string;
}

/** Fastify's request, with the path (URL without its query) that fastify-app.ts adds for shared code. */
export interface Request extends FastifyRequest {
  readonly path: string;
}

export interface GatewayRequest extends Request {
  startedAt?: number;
  principal?: Principal;
  /** The verified key's row (absent for the operator's PLATFORM_ADMIN_KEY). */
  apiKey?: ApiKeyEntity;
  authFailure?: ApiError;
  auditRoute?: AuditRoute;
}

/**
 * The caller's address, as rate limits count it and the audit log records it: the TCP peer, or what a
 * trusted proxy (TRUST_PROXY) says in X-Forwarded-For. A hop that is no IP address (a proxy passing on
 * garbage) counts as nothing: the peer's address stands.
 */
export const clientIp = (req: Request): string | null => {
  const ip = req.ip;
  return ip && isIP(ip) ? ip : req.socket.remoteAddress ?? null;
};
