/**
 * Traces (issue 19): W3C trace context from an HTTP request, through the signer queue, into the
 * signer's spans, exported over OTLP/HTTP (JSON) only when OTEL_EXPORTER_OTLP_ENDPOINT (or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set.
 *
 * Off (the default), nothing but @opentelemetry/api is loaded, nothing is patched, and every helper
 * here returns at its first line: no span objects, no context switches, no job option written.
 * On, `startTracing` (the first import of each service's main.ts, before Nest, Express or node:http
 * are loaded) registers the SDK: an AsyncLocalStorage context manager, the W3C trace-context
 * propagator, a batching OTLP exporter, and the node:http/https instrumentation, which makes the
 * SERVER span of every request (continuing an incoming `traceparent`) on the gateway and the enroll
 * server. The queue hop is ours: a producer injects the context into the job's BullMQ telemetry
 * metadata (`opts.telemetry.metadata`, a field BullMQ keeps for exactly this), the signer's worker
 * extracts it and runs the job in a CONSUMER span that is its child.
 */
import { Context, Link, Span, SpanKind, SpanStatusCode, context, propagation, trace } from '@opentelemetry/api';
import type { SpanExporter } from '@opentelemetry/sdk-trace';

const TRACER_NAME = 'signet';
/** Paths whose requests make no span: probes and scrapes every few seconds are noise in a trace store. */
const UNTRACED_PATHS = /^\/(healthz|readyz|metrics)(\/|\?|$)/;

let provider: { forceFlush(): Promise<void>; shutdown(): Promise<void> } | null = null;

/** Whether this environment asks for traces: an OTLP endpoint is set and the SDK is not disabled. */
export function tracingRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim());
}

/** Whether this process exports traces (startTracing ran with an endpoint set). */
export const tracingEnabled = (): boolean => provider !== null;

/**
 * Start the SDK for `serviceName` (signet-gateway, signet-signer, signet-enroll) when the environment
 * asks for traces; otherwise do nothing and load nothing. Returns whether tracing is on. `exporter`
 * replaces the OTLP one (unit tests: an in-memory exporter).
 */
export function startTracing(serviceName: string, env: NodeJS.ProcessEnv = process.env, exporter?: SpanExporter): boolean {
  if (provider || !tracingRequested(env)) return false;
  // Required here, not imported: with tracing off none of these modules is ever loaded.
  const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks') as typeof import('@opentelemetry/context-async-hooks');
  const { W3CTraceContextPropagator } = require('@opentelemetry/core') as typeof import('@opentelemetry/core');
  const { BatchSpanProcessor, TracerProvider } = require('@opentelemetry/sdk-trace') as typeof import('@opentelemetry/sdk-trace');
  const { resourceFromAttributes } = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
  const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http');
  const { registerInstrumentations } = require('@opentelemetry/instrumentation') as typeof import('@opentelemetry/instrumentation');
  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http') as typeof import('@opentelemetry/instrumentation-http');

  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  // The exporter reads OTEL_EXPORTER_OTLP_HEADERS / _TIMEOUT itself; the endpoint is taken from `env` as
  // the specification says (a signal's own URL as it is, the base one with /v1/traces). This SDK line
  // leaves OTEL_BSP_SCHEDULE_DELAY (how long spans wait for company, 5 s by default) to us.
  const url = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || `${env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim().replace(/\/+$/, '')}/v1/traces`;
  const delay = Number(env.OTEL_BSP_SCHEDULE_DELAY);
  const tracerProvider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME?.trim() || serviceName }),
    spanProcessors: [
      new BatchSpanProcessor({ exporter: exporter ?? new OTLPTraceExporter({ url }), ...(Number.isInteger(delay) && delay > 0 ? { scheduledDelayMillis: delay } : {}) }),
    ],
  });
  trace.setGlobalTracerProvider(tracerProvider);
  registerInstrumentations({
    tracerProvider,
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (request) => UNTRACED_PATHS.test(request.url ?? ''),
        // Outgoing calls (webhooks, the OTLP export itself) are not the request path we trace.
        disableOutgoingRequestInstrumentation: true,
      }),
    ],
  });
  provider = tracerProvider;
  return true;
}

/** Export what is buffered now (tests; a process's end is shutdownTracing). */
export async function flushTracing(): Promise<void> {
  await provider?.forceFlush();
}

/** Export what is buffered and stop (on shutdown); bounded, so an unreachable collector never holds an exit. */
export async function shutdownTracing(timeoutMs = 3000): Promise<void> {
  const current = provider;
  if (!current) return;
  provider = null;
  await Promise.race([current.shutdown().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
}

const tracer = () => trace.getTracer(TRACER_NAME);

function ended<T>(span: Span, work: () => Promise<T>, isFailure: (error: unknown) => boolean): Promise<T> {
  return work().then(
    (result) => {
      span.end();
      return result;
    },
    (error) => {
      if (isFailure(error)) {
        span.recordException(error as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message });
      }
      span.end();
      throw error;
    },
  );
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Record<string, string | number | boolean>;
  links?: Link[];
  /** The parent; the active context when absent. */
  parent?: Context;
  /** Whether a thrown error marks the span failed (default: every error does). */
  isFailure?: (error: unknown) => boolean;
}

/** Run `work` in a child span of the active one (or of `options.parent`); with tracing off, just run it. */
export function inSpan<T>(name: string, work: () => Promise<T>, options: SpanOptions = {}): Promise<T> {
  if (!provider) return work();
  const parent = options.parent ?? context.active();
  const span = tracer().startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes, links: options.links }, parent);
  return context.with(trace.setSpan(parent, span), () => ended(span, work, options.isFailure ?? (() => true)));
}

/** The active context, to continue later (a request waiting in the issuance batcher); undefined with tracing off. */
export const activeTraceContext = (): Context | undefined => (provider ? context.active() : undefined);

/**
 * Run `work` under the first of `contexts` (the parent) in a span linked to the others: one job for
 * several requests (a coalesced issuance) belongs to the first request's trace, and every other
 * request's trace reaches it through a link.
 */
export function inBatchSpan<T>(name: string, contexts: (Context | undefined)[], work: () => Promise<T>, attributes?: SpanOptions['attributes']): Promise<T> {
  if (!provider) return work();
  const [parent, ...others] = contexts;
  const links = others.flatMap((c) => {
    const spanContext = c && trace.getSpanContext(c);
    return spanContext ? [{ context: spanContext }] : [];
  });
  return inSpan(name, work, { parent: parent ?? context.active(), links, attributes });
}

/**
 * The active context as BullMQ telemetry metadata (a JSON carrier: `traceparent`, `tracestate`), for
 * a job's `opts.telemetry.metadata`; undefined with tracing off or no span active.
 */
export function jobTraceMetadata(): string | undefined {
  if (!provider) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent ? JSON.stringify(carrier) : undefined;
}

/** The context a job's telemetry metadata carries (malformed or absent: a fresh trace). */
function contextOfJob(metadata: unknown): Context {
  let carrier: Record<string, unknown> = {};
  if (typeof metadata === 'string' && metadata.length <= 4096) {
    try {
      const parsed = JSON.parse(metadata);
      if (parsed && typeof parsed === 'object') carrier = parsed;
    } catch {
      // Not ours: a fresh trace.
    }
  }
  const headers: Record<string, string> = {};
  for (const key of ['traceparent', 'tracestate']) if (typeof carrier[key] === 'string') headers[key] = carrier[key] as string;
  return propagation.extract(context.active(), headers);
}

/**
 * Run a job taken off the queue in a CONSUMER span, the child of the producer's span whose context the
 * job's telemetry metadata carries; with tracing off, just run it.
 */
export function inJobSpan<T>(
  job: { name: string; id?: string; attemptsMade?: number; opts?: { telemetry?: { metadata?: string } } },
  work: () => Promise<T>,
  isFailure?: (error: unknown) => boolean,
): Promise<T> {
  if (!provider) return work();
  return inSpan(`signer ${job.name}`, work, {
    kind: SpanKind.CONSUMER,
    parent: contextOfJob(job.opts?.telemetry?.metadata),
    attributes: { 'messaging.system': 'bullmq', 'messaging.operation.type': 'process', 'messaging.destination.name': 'signer', 'messaging.message.id': String(job.id ?? ''), 'signet.job.attempts_made': job.attemptsMade ?? 0 },
    isFailure,
  });
}
