/** Traces, when OTEL_EXPORTER_OTLP_ENDPOINT is set (libs/service tracing.ts); imported first by main.ts. */
import { startTracing } from '@signet/service/tracing';

startTracing('signet-gateway');
