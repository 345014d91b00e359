// First: with OTEL_EXPORTER_OTLP_ENDPOINT set, the tracing SDK must patch node:http before anything loads it.
import './tracing';
import 'reflect-metadata';
import { closeOnSignals, loadConfigOrExit, runClustered } from '@signet/service';
import { createGateway, listenHttps } from './app/gateway';
import { GatewayConfig } from './app/gateway.config';

async function main() {
  const config = loadConfigOrExit('api-gateway', GatewayConfig);
  // Each worker listens on both ports; its HTTPS certificate is its own, fetched at start.
  await runClustered(config.GATEWAY_WORKERS, async () => {
    const app = await createGateway(config);
    await app.listen(config.PORT, config.HOST);
    closeOnSignals(app);
    // After the HTTP port: an issued certificate may wait for a signer that is still starting.
    await listenHttps(app, config);
  });
}

main().catch((err) => {
  process.stderr.write(`signet api-gateway: failed to start: ${err?.message ?? err}\n`);
  process.exit(1);
});
