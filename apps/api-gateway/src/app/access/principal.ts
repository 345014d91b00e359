/**
 * Who is calling, once the bearer key is verified. Every access decision reads this and nothing else.
 */
import type { ApiKeyRole, CaPermissions } from '@signet/persistence';
import { ApiError } from '@signet/service';

/** `approve`: decide others' approval requests on the CA (API.md section 6). */
export type CaAction = 'read' | 'issue' | 'revoke' | 'approve';

export interface PlatformPrincipal {
  type: 'platform';
  /** The api_keys row, or null for the operator's PLATFORM_ADMIN_KEY itself. */
  apiKeyId: string | null;
  name: string;
}

export interface OrgPrincipal {
  type: 'org';
  orgId: string;
  apiKeyId: string;
  name: string;
  role: Exclude<ApiKeyRole, 'platform'>;
  permissions: CaPermissions;
}

/**
 * A signet-agent (API.md section 10): its key opens the agent routes, for itself, and nothing else.
 * `apiKeyId` is the agent's id: the rate limiter counts it and the audit names it as the key's owner.
 */
export interface AgentPrincipal {
  type: 'agent';
  orgId: string;
  agentId: string;
  apiKeyId: string;
  name: string;
}

export type Principal = PlatformPrincipal | OrgPrincipal | AgentPrincipal;

export const PLATFORM_ADMIN: PlatformPrincipal = { type: 'platform', apiKeyId: null, name: 'platform admin' };

export const isOrgAdmin = (p: Principal): p is OrgPrincipal => p.type === 'org' && p.role === 'admin';

/** May `principal` do `action` on CA `caId`? Org admins may do anything in their org (the caller checks the org). */
export function mayOnCa(principal: Principal, caId: string | null, action: CaAction): boolean {
  if (principal.type !== 'org') return false;
  if (principal.role === 'admin') return true;
  // null: a certificate no Signet CA issued (API.md section 8), which per-CA grants do not reach: admins only.
  return caId !== null && principal.permissions[caId]?.[action] === true;
}

/**
 * The one per-CA authorisation: returns when `principal` may do `action` on `caId`; else 403 when the
 * key may at least read the CA, and 404 (the `what` does not exist for it) when it may not even read it,
 * so no key learns of CAs outside its permissions.
 */
export function requireOnCa(principal: Principal, caId: string | null, action: CaAction, what = 'certificate authority'): void {
  if (mayOnCa(principal, caId, action)) return;
  if (!mayOnCa(principal, caId, 'read')) throw ApiError.notFound(what);
  throw ApiError.forbidden(`this key may not ${action} on certificate authority ${caId}`);
}

/** CA ids a member may read; null means "every CA of the org" (an admin). */
export function readableCaIds(principal: OrgPrincipal): string[] | null {
  if (principal.role === 'admin') return null;
  return Object.entries(principal.permissions)
    .filter(([, grant]) => grant.read)
    .map(([caId]) => caId);
}

/** The audit actor of a principal. */
export const actorOf = (p: Principal | undefined) =>
  p ? { actorType: 'apiKey' as const, actorId: p.apiKeyId ?? 'platform-admin', actorName: p.name } : null;
