import { RequestMethod } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { HealthController, PUBLIC_ROUTE } from '@signet/service';
import { ACCESS_NEED } from '../src/app/access/access.decorator';
import { AccessGuard, checkNeed } from '../src/app/access/access.guard';
import { PLATFORM_ADMIN } from '../src/app/access/principal';
import { AppModule } from '../src/app/app.module';
import { testGatewayConfig } from './support';

/** Every route handler of the gateway, with its controller. */
function routes() {
  const controllers = [...(AppModule.forRoot(testGatewayConfig()).controllers ?? []), HealthController];
  return controllers.flatMap((controller) =>
    Object.getOwnPropertyNames(controller.prototype)
      .filter((name) => name !== 'constructor')
      .map((name) => ({ controller, name, handler: controller.prototype[name] as object }))
      .filter((r) => Reflect.getMetadata(PATH_METADATA, r.handler) !== undefined),
  );
}

describe('every gateway route declares who may use it', () => {
  it.each(routes().map((r) => [`${r.controller.name}.${r.name}`, r] as const))('%s', (_name, r) => {
    const declared = [ACCESS_NEED, PUBLIC_ROUTE].some(
      (key) => Reflect.getMetadata(key, r.handler) !== undefined || Reflect.getMetadata(key, r.controller) !== undefined,
    );
    expect(declared).toBe(true);
    expect(RequestMethod[Reflect.getMetadata(METHOD_METADATA, r.handler)]).toBeDefined();
  });
});

describe('AccessGuard', () => {
  const contextFor = (handler: () => void, req: object) =>
    ({
      getHandler: () => handler,
      getClass: () => class Undeclared {},
      switchToHttp: () => ({ getRequest: () => req }),
    }) as never;

  it('refuses a route that declares no need, even for the platform admin', () => {
    const guard = new AccessGuard(new Reflector());
    const req = { method: 'GET', path: '/x', principal: PLATFORM_ADMIN };
    expect(() => guard.canActivate(contextFor(() => undefined, req))).toThrow(expect.objectContaining({ code: 'forbidden' }));
  });

  it('404s a member acting on a CA it cannot read, 403s one it can read but not use', () => {
    const member = { type: 'org', orgId: 'o', apiKeyId: 'k', name: 'm', role: 'member', permissions: { ca1: { read: true } } } as const;
    const need = { ca: 'issue', from: 'body.caId' } as const;
    expect(() => checkNeed(need, member, { body: { caId: 'ca2' } } as never)).toThrow(expect.objectContaining({ code: 'not_found' }));
    expect(() => checkNeed(need, member, { body: { caId: 'ca1' } } as never)).toThrow(expect.objectContaining({ code: 'forbidden' }));
    expect(() => checkNeed({ ca: 'read', from: 'body.caId' }, member, { body: { caId: 'ca1' } } as never)).not.toThrow();
  });
});
