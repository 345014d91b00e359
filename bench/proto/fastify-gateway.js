/**
 * Measurement prototype (issue 17, docs/BENCHMARKS.md "issue 17, 2026-11-29"): the built gateway's
 * AppModule on NestJS's Fastify adapter, enough for `GET /api/v1/whoami` (request id, request metrics,
 * the three guards with the Redis rate limit and its headers, the access log, the JSON answer). Not the
 * gateway: no /pki fast path, body rules, audit of failures, console, OpenAPI or HTTPS. Kept as the record
 * of the measurement that decided the migration: since 1265c38 the gateway itself runs on the Fastify
 * adapter (a dependency now), so `node bench/whoami.js` measures the real thing; this still runs with
 *
 *   node bench/whoami.js --main bench/proto/fastify-gateway.js
 */
'use strict';
require('reflect-metadata');
const path = require('node:path');
const dist = path.join(__dirname, '../../dist');
const { NestFactory } = require('@nestjs/core');
const { FastifyAdapter } = require('@nestjs/platform-fastify');
const { Logger } = require('nestjs-pino');
const svc = require(path.join(dist, 'libs/service/src'));
const { AppModule } = require(path.join(dist, 'apps/api-gateway/src/app/app.module'));
const { GatewayConfig } = require(path.join(dist, 'apps/api-gateway/src/app/gateway.config'));

async function main() {
  const config = svc.loadConfigOrExit('api-gateway', GatewayConfig);
  svc.initMetrics('api-gateway');
  const adapter = new FastifyAdapter({ trustProxy: '127.0.0.1', bodyLimit: config.BODY_LIMIT_BYTES });
  const fastify = adapter.getInstance();
  fastify.decorateReply('setHeader', function (k, v) { this.header(k, v); return this; });
  fastify.addHook('onRequest', (req, reply, done) => {
    req.raw.id = req.id = svc.requestIdFor(req.raw, reply.raw);
    const end = svc.httpRequestDuration.startTimer();
    reply.raw.on('finish', () => {
      const labels = { method: req.method, route: req.routeOptions?.url ?? 'unmatched', status: String(reply.raw.statusCode) };
      end(labels);
      svc.httpRequestsTotal.inc(labels);
    });
    done();
  });
  const app = await NestFactory.create(AppModule.forRoot(config), adapter, { bufferLogs: true });
  app.useLogger(app.get(Logger));
  app.useGlobalFilters(new svc.ApiExceptionFilter());
  app.useGlobalPipes(svc.createValidationPipe());
  await app.listen(config.PORT, config.HOST);
}
const config0 = svc.loadConfigOrExit('api-gateway', GatewayConfig);
svc.runClustered(config0.GATEWAY_WORKERS, main).catch((e) => { console.error(e); process.exit(1); });
