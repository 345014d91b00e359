// First: with OTEL_EXPORTER_OTLP_ENDPOINT set, the tracing SDK must patch node:http before anything loads it.
import './tracing';
import 'reflect-metadata';
import { closeOnSignals, loadConfigOrExit, runClustered } from '@signet/service';
import { createEnrollHealthApp } from './app/enroll';
import { EnrollConfig } from './app/enroll.config';

async function main() {
  const config = loadConfigOrExit('enroll', EnrollConfig);
  // Each worker listens on both ports (8443 and the health port); its TLS certificate is its own, fetched at start.
  await runClustered(config.ENROLL_WORKERS, async () => {
    const app = await createEnrollHealthApp(config);
    await app.listen(config.ENROLL_HEALTH_PORT, '0.0.0.0');
    closeOnSignals(app);
  });
}

main().catch((err) => {
  process.stderr.write(`signet enroll: failed to start: ${err?.message ?? err}\n`);
  process.exit(1);
});
