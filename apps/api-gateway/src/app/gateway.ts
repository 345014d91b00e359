import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { caById, certificatesById } from '@signet/persistence';
import { SignerClient, createFastifyApp, serverIdentity } from '@signet/service';
import type { Server as HttpServer } from 'node:http';
import { Server as HttpsServer, createServer } from 'node:https';
import { DataSource } from 'typeorm';
import { AppModule } from './app.module';
import { acmeErrorRenderer } from './acme/acme-exception.filter';
import { NonceStore } from './acme/nonces';
import { auditFailures } from './audit/audit-failures.middleware';
import { AuditService } from './audit/audit.service';
import { consoleHook } from './console/console-files';
import { GatewayConfig } from './gateway.config';
import { setupOpenApi } from './openapi';
import { installPkiEndpoints } from './pki/pki.middleware';
import { PkiStore } from './pki/pki-store';
import { limitUnguardedRequests } from './rate-limit/unguarded-requests';
import { trustedProxies } from './trusted-proxies';

/** The gateway as an app object: main.ts listens on it, tests drive it with supertest. */
export function createGateway(config: GatewayConfig): Promise<NestFastifyApplication> {
  return createFastifyApp(AppModule.forRoot(config), {
    app: 'api-gateway',
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    trustProxy: trustedProxies(config.TRUST_PROXY),
    // Audit first (it sees refused bodies too); then the console's static files, ahead of the API's
    // router and guards (console-files.ts says why).
    earlyHooks: (app) => [auditFailures(app.get(AuditService)), consoleHook()],
    beforeErrorResponse: (app) => limitUnguardedRequests(app, config),
    errorRenderer: (app) => acmeErrorRenderer(app.get(NonceStore)),
    configure: (app) => {
      // /pki is answered by node:http ahead of Fastify (pki.middleware.ts); Fastify gets the rest.
      installPkiEndpoints(app.getHttpServer(), app.get(PkiStore));
      return setupOpenApi(app);
    },
  });
}

/**
 * The HTTPS listener (API.md section 7) on HTTPS_PORT, beside the HTTP port: the HTTP server's own
 * request and clientError listeners (Fastify, the /pki fast path, parser refusals in the API's error
 * shape), so it serves exactly what the HTTP port serves. Its certificate comes from GATEWAY_TLS_CERT/
 * GATEWAY_TLS_KEY, or is issued at start by GATEWAY_TLS_CA_ID, or is self-signed for a trial
 * (serverIdentity). Call after createGateway; app.close() closes it with the HTTP server.
 */
export async function listenHttps(app: NestFastifyApplication, config: GatewayConfig): Promise<HttpsServer> {
  const logger = new Logger('HttpsListener');
  const dataSource = app.get(DataSource);
  const identity = await serverIdentity({
    service: 'api-gateway', label: 'the gateway (HTTPS)', variables: 'GATEWAY_TLS',
    certFile: config.GATEWAY_TLS_CERT, keyFile: config.GATEWAY_TLS_KEY, caId: config.GATEWAY_TLS_CA_ID, hostnames: config.GATEWAY_TLS_HOSTNAMES,
    store: { caById: (id) => caById(dataSource.manager, id), certificatesById: (ids) => certificatesById(dataSource.manager, ids) },
    signer: app.get(SignerClient), logger,
  });
  const server = createServer({ cert: identity.certPem, key: identity.keyPem, minVersion: 'TLSv1.2' });
  const http = app.getHttpServer() as HttpServer;
  for (const event of ['request', 'clientError'] as const) {
    for (const listener of http.listeners(event)) server.on(event, listener as (...args: unknown[]) => void);
  }
  // Both listeners stop taking connections and finish what they have before the shutdown hooks close the pools.
  const adapter = app.getHttpAdapter();
  const closeHttp = adapter.close.bind(adapter);
  adapter.close = () => Promise.all([closeHttp(), new Promise<void>((resolve) => server.close(() => resolve()))]);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.HTTPS_PORT, config.HOST, () => resolve());
  });
  logger.log({ port: config.HTTPS_PORT, certificate: identity.source }, 'HTTPS listening');
  return server;
}
