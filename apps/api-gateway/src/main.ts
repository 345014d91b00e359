// First: with OTEL_EXPORTER_OTLP_ENDPOINT set, the tracing SDK must patch node:http before anything loads it.
import './tracing';
import 'reflect-metadata';
import { closeOnSignals, loadConfigOrExit, runClustered } from '@signet/service';
import { createGateway } from './app/gateway';
import { GatewayConfig } from './app/gateway.config';

async function main() {
  const config = loadConfigOrExit('api-gateway', GatewayConfig);
  await runClustered(config.GATEWAY_WORKERS, async () => {
    const app = await createGateway(config);
    await app.listen(config.PORT, config.HOST);
    closeOnSignals(app);
  });
}

main().catch((err) => {
  process.stderr.write(`signet api-gateway: failed to start: ${err?.message ?? err}\n`);
  process.exit(1);
});
