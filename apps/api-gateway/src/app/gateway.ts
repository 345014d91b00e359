import type { NestExpressApplication } from '@nestjs/platform-express';
import { createHttpApp } from '@signet/service';
import type { RequestHandler } from 'express';
import { AppModule } from './app.module';
import { acmeErrorRenderer } from './acme/acme-exception.filter';
import { NonceStore } from './acme/nonces';
import { auditFailures } from './audit/audit-failures.middleware';
import { AuditService } from './audit/audit.service';
import { GatewayConfig } from './gateway.config';
import { setupOpenApi } from './openapi';
import { installPkiEndpoints } from './pki/pki.middleware';
import { PkiStore } from './pki/pki-store';
import { limitUnguardedRequests } from './rate-limit/unguarded-requests';
import { trustedProxies } from './trusted-proxies';

/** The gateway as an app object: main.ts listens on it, tests drive it with supertest. */
export function createGateway(config: GatewayConfig): Promise<NestExpressApplication> {
  return createHttpApp(AppModule.forRoot(config), {
    app: 'api-gateway',
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    trustProxy: trustedProxies(config.TRUST_PROXY),
    earlyMiddleware: (app) => [auditFailures(app.get(AuditService)) as RequestHandler],
    beforeErrorResponse: (app) => limitUnguardedRequests(app, config),
    errorRenderer: (app) => acmeErrorRenderer(app.get(NonceStore)),
    configure: (app) => {
      // /pki is answered by node:http ahead of Express (pki.middleware.ts); Express gets the rest.
      installPkiEndpoints(app.getHttpServer(), app.get(PkiStore));
      return setupOpenApi(app);
    },
  });
}
