/**
 * tracing.ts: off (no endpoint) it loads no SDK module and its helpers only run their work; on, a job's
 * telemetry metadata carries the producer's context to the consumer's span, and a coalesced batch's
 * span is the first request's child with links to the others.
 */
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { activeTraceContext, flushTracing, inBatchSpan, inJobSpan, inSpan, jobTraceMetadata, shutdownTracing, startTracing, tracingEnabled, tracingRequested } from './tracing';

const sdkLoaded = () => Object.keys(require.cache).some((file) => /@opentelemetry[\\/](sdk-trace|exporter-trace-otlp-http|instrumentation-http)[\\/]/.test(file));

describe('tracing', () => {
  it('is requested only by an OTLP endpoint, and not when the SDK is disabled', () => {
    expect(tracingRequested({})).toBe(false);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: ' ' })).toBe(false);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' })).toBe(true);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' })).toBe(false);
  });

  it('off: loads no SDK module, writes no job metadata, and runs the work as it is', async () => {
    expect(startTracing('signet-test', {})).toBe(false);
    expect(tracingEnabled()).toBe(false);
    expect(sdkLoaded()).toBe(false);
    expect(jobTraceMetadata()).toBeUndefined();
    expect(activeTraceContext()).toBeUndefined();
    await expect(inSpan('x', async () => 1)).resolves.toBe(1);
    await expect(inBatchSpan('x', [undefined], async () => 2)).resolves.toBe(2);
    await expect(inJobSpan({ name: 'j', opts: { telemetry: { metadata: 'not json' } } }, async () => 3)).resolves.toBe(3);
    await expect(inSpan('x', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
  });

  it('on: the job span is the producer span\'s child across the metadata, and a batch links every request but the first', async () => {
    // The OTLP path itself is the e2e's (apps/api-gateway/test/tracing.e2e-spec.ts); here spans stay in memory.
    const { InMemorySpanExporter } = await import('@opentelemetry/sdk-trace');
    const exporter = new InMemorySpanExporter();
    try {
      expect(startTracing('signet-test', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' }, exporter)).toBe(true);
      expect(tracingEnabled()).toBe(true);
      const tracer = trace.getTracer('test');

      // Producer side: the metadata is a W3C carrier of the active span.
      const producer = tracer.startSpan('producer');
      const metadata = context.with(trace.setSpan(context.active(), producer), () => jobTraceMetadata());
      producer.end();
      expect(JSON.parse(metadata!)).toEqual({ traceparent: `00-${producer.spanContext().traceId}-${producer.spanContext().spanId}-01` });
      await inJobSpan({ name: 'certificate.issueMany', id: '7', opts: { telemetry: { metadata } } }, async () => undefined);
      // Malformed metadata: a trace of its own, the work still runs.
      await inJobSpan({ name: 'certificate.issue', id: '8', opts: { telemetry: { metadata: '{"traceparent":"nonsense"}' } } }, async () => undefined);
      // A failure marks the span, unless the caller says it is none.
      await expect(inSpan('fails', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
      await expect(inSpan('put back', async () => Promise.reject(new Error('later')), { isFailure: () => false })).rejects.toThrow('later');

      // Three waiting requests, one batch.
      const requests = [0, 1, 2].map((i) => tracer.startSpan(`request-${i}`));
      const contexts = requests.map((span) => trace.setSpan(context.active(), span));
      await inBatchSpan('issuance.batch', contexts, async () => undefined);
      requests.forEach((span) => span.end());
      await flushTracing();

      const spans = exporter.getFinishedSpans();
      const named = (name: string) => spans.find((s) => s.name === name)!;
      const job = named('signer certificate.issueMany');
      expect(job.spanContext().traceId).toBe(producer.spanContext().traceId);
      expect(job.parentSpanContext?.spanId).toBe(producer.spanContext().spanId);
      expect(job.kind).toBe(SpanKind.CONSUMER);
      expect(named('signer certificate.issue').spanContext().traceId).not.toBe(producer.spanContext().traceId);
      expect(named('fails').status.code).toBe(SpanStatusCode.ERROR);
      expect(named('put back').status.code).toBe(SpanStatusCode.UNSET);
      const batch = named('issuance.batch');
      expect(batch.spanContext().traceId).toBe(requests[0].spanContext().traceId);
      expect(batch.parentSpanContext?.spanId).toBe(requests[0].spanContext().spanId);
      expect(batch.links.map((l) => l.context.spanId)).toEqual(requests.slice(1).map((r) => r.spanContext().spanId));
    } finally {
      await shutdownTracing();
    }
  });
});
