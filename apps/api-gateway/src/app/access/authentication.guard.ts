/**
 * First of the three global guards: find out who is calling, but refuse nothing yet.
 *
 * The rate limiter runs next and needs to know whether to count this request against a key or an IP
 * address; refusing a bad key before it would let a flood of made-up keys past the limiter. The
 * AccessGuard (third) turns a failed authentication into the 401.
 */
import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ApiError, PUBLIC_ROUTE } from '@signet/service';
import { AUDIT_ROUTE } from '../audit/audited.decorator';
import { GATEWAY_CONFIG } from '../gateway-config.token';
import type { GatewayConfig } from '../gateway.config';
import type { AuditRoute, GatewayRequest } from '../request-context';
import { adminKeyMatches, parseApiKey, secretMatches } from './api-key-token';
import { ApiKeyStore } from './api-key-store';
import { AgentPrincipal, PLATFORM_ADMIN, Principal } from './principal';
import { isAgentKey, parseAgentKey } from '../agents/agent-key';

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

@Injectable()
export class AuthenticationGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly keys: ApiKeyStore,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<GatewayRequest>();
    const targets = [context.getHandler(), context.getClass()];
    req.auditRoute = this.reflector.getAllAndOverride<AuditRoute | undefined>(AUDIT_ROUTE, targets);
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets)) return true;
    await identifyCaller(req, this.keys, this.config.PLATFORM_ADMIN_KEY);
    return true;
  }
}

/**
 * Sets req.principal (and req.apiKey) from the Authorization header, or req.authFailure when it names
 * no valid key; refuses nothing. Also used for requests the guards never see (rate-limit fallback).
 */
export async function identifyCaller(req: GatewayRequest, keys: ApiKeyStore, platformAdminKey: string): Promise<void> {
  try {
    const agentKey = req.headers['x-agent-api-key'];
    req.principal = agentKey !== undefined
      ? await authenticateAgent(Array.isArray(agentKey) ? agentKey[0] : agentKey, keys)
      : await authenticate(req, req.headers.authorization, keys, platformAdminKey);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    req.authFailure = error;
  }
}

/** An agent's key (Authorization: Bearer or X-Agent-API-Key): the agent it belongs to, which must still exist. */
async function authenticateAgent(presented: string, keys: ApiKeyStore): Promise<AgentPrincipal> {
  const token = parseAgentKey(presented.trim());
  if (!token) throw ApiError.unauthorized('malformed agent key');
  const agent = await keys.findAgent(token.keyId);
  if (!agent || !secretMatches(token.secret, agent.secretHash)) throw ApiError.unauthorized('unknown agent key');
  return { type: 'agent', orgId: agent.orgId, agentId: agent.id, apiKeyId: agent.id, name: `agent ${agent.name}` };
}

async function authenticate(req: GatewayRequest, header: string | undefined, keys: ApiKeyStore, platformAdminKey: string): Promise<Principal> {
  if (!header) throw ApiError.unauthorized('missing API key: send Authorization: Bearer <key>');
  const bearer = BEARER.exec(header)?.[1];
  if (!bearer) throw ApiError.unauthorized('malformed Authorization header: expected Bearer <key>');
  if (adminKeyMatches(bearer, platformAdminKey)) return PLATFORM_ADMIN;
  if (isAgentKey(bearer)) return authenticateAgent(bearer, keys);

  const token = parseApiKey(bearer);
  if (!token) throw ApiError.unauthorized('malformed API key');
  const row = await keys.find(token.keyId);
  // Unknown, revoked and expired keys get distinct messages but the same status: the caller owns the key.
  if (!row || !secretMatches(token.secret, row.secretHash)) throw ApiError.unauthorized('unknown API key');
  if (row.revokedAt) throw ApiError.unauthorized('API key has been revoked');
  if (row.expiresAt && row.expiresAt.getTime() <= Date.now()) throw ApiError.unauthorized('API key has expired');

  req.apiKey = row;
  if (row.role === 'platform') return { type: 'platform', apiKeyId: row.id, name: row.name };
  return {
    type: 'org',
    orgId: row.orgId as string,
    apiKeyId: row.id,
    name: row.name,
    role: row.role,
    permissions: row.permissions,
  };
}
