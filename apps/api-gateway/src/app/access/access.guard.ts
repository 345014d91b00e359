/**
 * Third global guard: the 401 for a failed authentication, then the route's declared need.
 * A route that declares no need is refused (and logged): access fails closed.
 */
import { CanActivate, ExecutionContext, Injectable, Logger } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ApiError, PUBLIC_ROUTE } from '@signet/service';
import type { GatewayRequest } from '../request-context';
import { ACCESS_NEED, AccessNeed, CaIdSource } from './access.decorator';
import { Principal, isOrgAdmin, requireOnCa } from './principal';

@Injectable()
export class AccessGuard implements CanActivate {
  private readonly logger = new Logger(AccessGuard.name);

  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets)) return true;
    const req = context.switchToHttp().getRequest<GatewayRequest>();
    if (req.authFailure) throw req.authFailure;
    const principal = req.principal;
    if (!principal) throw ApiError.unauthorized();

    const need = this.reflector.getAllAndOverride<AccessNeed | undefined>(ACCESS_NEED, targets);
    if (!need) {
      this.logger.error(`route ${req.method} ${req.routeOptions?.url ?? req.path} declares no access need; refusing`);
      throw ApiError.forbidden('this route is not open to any key');
    }
    checkNeed(need, principal, req);
    return true;
  }
}

/** Throws the right ApiError when `principal` does not meet `need`. */
export function checkNeed(need: AccessNeed, principal: Principal, req: GatewayRequest): void {
  // An agent's key opens the agent routes and nothing else.
  if ((need === 'agent') !== (principal.type === 'agent')) {
    throw ApiError.forbidden(need === 'agent' ? "this needs an agent's key" : "an agent's key opens only the agent routes");
  }
  switch (need) {
    case 'anyKey':
    case 'agent':
      return;
    case 'platform':
      if (principal.type !== 'platform') throw ApiError.forbidden('this needs the platform admin key or a platform key');
      return;
    case 'orgAdmin':
      if (!isOrgAdmin(principal)) throw ApiError.forbidden('this needs an org admin key');
      return;
    case 'admin':
      if (principal.type !== 'platform' && !isOrgAdmin(principal)) throw ApiError.forbidden('this needs an admin key');
      return;
    case 'orgKey':
      if (principal.type !== 'org') throw ApiError.forbidden('this needs an org key');
      return;
    default: {
      if (principal.type !== 'org') throw ApiError.forbidden('this needs an org key');
      const caId = caIdFrom(req, need.from);
      // No CA named: the validation pipe reports the missing field after the guards.
      if (caId === undefined || isOrgAdmin(principal)) return;
      requireOnCa(principal, caId, need.ca);
      return;
    }
  }
}

function caIdFrom(req: GatewayRequest, source: CaIdSource): string | undefined {
  const [where, name] = source.split('.', 2) as ['param' | 'body' | 'query', string];
  const bag = where === 'param' ? req.params : where === 'body' ? req.body : req.query;
  const value = (bag as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : undefined;
}
