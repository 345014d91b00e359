/**
 * Who asks, and from where: what services need of a request, handed to them instead of the Express
 * request. Controllers take it with `@CurrentCaller()` (or just the principal with `@CurrentPrincipal()`);
 * the access guard has verified the principal by then.
 */
import { ExecutionContext, createParamDecorator } from '@nestjs/common';
import { GatewayRequest, clientIp } from '../request-context';
import type { OrgPrincipal, Principal } from './principal';

export interface Caller<P extends Principal | undefined = Principal> {
  principal: P;
  /** The client's address (the TCP peer, or what a trusted proxy says). */
  ip: string | null;
  requestId: string;
  /** When the request arrived (ms since the epoch), for the audit's durationMs. */
  startedAt: number | null;
}

export type OrgCaller = Caller<OrgPrincipal>;

/** The caller of a request; `principal` is undefined only before authentication (failure audits). */
export function callerOf(req: GatewayRequest): Caller<Principal | undefined> {
  return { principal: req.principal, ip: clientIp(req), requestId: String(req.id ?? ''), startedAt: req.startedAt ?? null };
}

const requestOf = (ctx: ExecutionContext) => ctx.switchToHttp().getRequest<GatewayRequest>();

/** The verified caller; its principal's type is what the route's @Access admits (an org key for `orgKey`). */
export const CurrentCaller = createParamDecorator((_data: unknown, ctx: ExecutionContext) => callerOf(requestOf(ctx)));

/** The verified principal of the request. */
export const CurrentPrincipal = createParamDecorator((_data: unknown, ctx: ExecutionContext) => requestOf(ctx).principal);
