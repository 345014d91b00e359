// First: with OTEL_EXPORTER_OTLP_ENDPOINT set, the tracing SDK must patch node:http before anything loads it.
import './tracing';
import 'reflect-metadata';
import { closeOnSignals, loadConfigOrExit } from '@signet/service';
import { createSigner } from './app/signer';
import { SignerConfig } from './app/signer.config';

async function main() {
  const config = loadConfigOrExit('signer', SignerConfig);
  const app = await createSigner(config);
  await app.listen(config.SIGNER_HEALTH_PORT, '0.0.0.0');
  closeOnSignals(app);
}

main().catch((err) => {
  process.stderr.write(`signet signer: failed to start: ${err?.message ?? err}\n`);
  process.exit(1);
});
