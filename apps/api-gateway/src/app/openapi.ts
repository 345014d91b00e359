/**
 * OpenAPI 3 document at /api/v1/openapi.json and Swagger UI at /docs, generated from the DTOs.
 */
import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, getSchemaPath } from '@nestjs/swagger';
import { ERROR_RESPONSES, ERROR_SCHEMA_REF } from './api-docs.decorator';
import { OcspStatusView } from './certificates/certificate.view';

export const ERROR_SCHEMA = {
  type: 'object',
  required: ['error', 'code', 'status'],
  properties: {
    error: { type: 'string', example: 'certificate not found' },
    code: {
      type: 'string',
      enum: [
        'bad_request', 'validation_failed', 'unauthorized', 'forbidden', 'not_found', 'conflict', 'already_revoked',
        'idempotency_mismatch', 'policy_violation', 'ca_unavailable', 'payload_too_large', 'unsupported_media_type',
        'rate_limited', 'service_unavailable', 'internal',
      ],
    },
    status: { type: 'integer', example: 404 },
    details: { type: 'object', additionalProperties: true },
    requestId: { type: 'string' },
    retryAfter: { type: 'integer', description: 'seconds; only with rate_limited' },
  },
};

const binary = (type: string, description: string) => ({ description, content: { [type]: { schema: { type: 'string', format: 'binary' } } } });
const caIdParameter = { name: 'caId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
const RFC5019_HEADERS = {
  'Cache-Control': { schema: { type: 'string', example: 'max-age=172800, public, no-transform, must-revalidate' } },
  ETag: { schema: { type: 'string' } },
  'Last-Modified': { schema: { type: 'string', description: "the response's thisUpdate" } },
  Expires: { schema: { type: 'string', description: "the response's nextUpdate" } },
};

/**
 * The public PKI endpoints are served ahead of Nest's router (pki.middleware.ts), so the document
 * describes them by hand.
 */
export const PKI_PATHS = {
  '/pki/ocsp': {
    post: {
      tags: ['public PKI'],
      summary: 'OCSP (RFC 6960), pre-signed responses in the RFC 5019 manner; no authentication',
      requestBody: { required: true, ...binary('application/ocsp-request', 'DER OCSPRequest (at most 4096 bytes)') },
      responses: {
        '200': {
          ...binary('application/ocsp-response', 'successful (good or revoked), or unsigned malformedRequest / unauthorized / tryLater'),
          headers: RFC5019_HEADERS,
        },
      },
    },
  },
  '/pki/ocsp/{request}': {
    get: {
      tags: ['public PKI'],
      summary: 'OCSP GET form: the URL-encoded base64 of the DER request (RFC 6960 A.1); cacheable; 304 on If-None-Match',
      parameters: [{ name: 'request', in: 'path', required: true, schema: { type: 'string' } }],
      responses: { '200': { ...binary('application/ocsp-response', 'as for POST'), headers: RFC5019_HEADERS }, '304': { description: 'not modified' } },
    },
  },
  '/pki/cas/{caId}/crl': {
    get: {
      tags: ['public PKI'],
      summary: "The CA's current full CRL, DER (the CRL distribution point of its certificates); ETag is the CRL number",
      parameters: [caIdParameter],
      responses: {
        '200': { ...binary('application/pkix-crl', 'DER CertificateList'), headers: RFC5019_HEADERS },
        '304': { description: 'not modified' },
        '404': { description: 'unknown CA', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      },
    },
  },
  '/pki/cas/{caId}/crl/{shard}': {
    get: {
      tags: ['public PKI'],
      summary: "One shard's current CRL, DER: the CRL distribution point of a sharded CA's leaves (its IssuingDistributionPoint names this URL); ETag is the shard and CRL number",
      parameters: [caIdParameter, { name: 'shard', in: 'path', required: true, schema: { type: 'integer', minimum: 0, maximum: 255 } }],
      responses: {
        '200': { ...binary('application/pkix-crl', 'DER CertificateList'), headers: RFC5019_HEADERS },
        '304': { description: 'not modified' },
        '404': { description: 'unknown CA, or a shard that has no CRL', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      },
    },
  },
  '/pki/cas/{caId}/ca.crt': {
    get: {
      tags: ['public PKI'],
      summary: 'The CA certificate, DER (the AIA caIssuers URL)',
      parameters: [caIdParameter],
      responses: {
        '200': binary('application/pkix-cert', 'DER Certificate'),
        '404': { description: 'unknown CA', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      },
    },
  },
};

/** /healthz, /readyz and /metrics (HealthController of @signet/service, excluded from the scan). */
export const OPS_PATHS = {
  '/healthz': {
    get: {
      tags: ['ops'],
      summary: 'Liveness: the process answers; no authentication, no rate limit',
      security: [],
      responses: {
        '200': {
          description: 'alive',
          content: { 'application/json': { schema: { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['ok'] } } } } },
        },
      },
    },
  },
  '/readyz': {
    get: {
      tags: ['ops'],
      summary: 'Readiness: 200 only when PostgreSQL and Redis answer, else 503; no authentication, no rate limit',
      security: [],
      responses: {
        '200': { description: 'ready', content: { 'application/json': { schema: { $ref: '#/components/schemas/Readiness' } } } },
        '503': { description: 'not ready: a check is down', content: { 'application/json': { schema: { $ref: '#/components/schemas/Readiness' } } } },
      },
    },
  },
  '/metrics': {
    get: {
      tags: ['ops'],
      summary: 'Prometheus metrics (signet_ prefix); no authentication, no rate limit',
      security: [],
      responses: {
        '200': { description: 'Prometheus text exposition format', content: { 'text/plain; version=0.0.4; charset=utf-8': { schema: { type: 'string' } } } },
      },
    },
  },
};

const READINESS_SCHEMA = {
  type: 'object',
  required: ['status', 'checks'],
  properties: {
    status: { type: 'string', enum: ['ready', 'not_ready'] },
    checks: {
      type: 'object',
      description: 'by dependency: postgres, redis',
      additionalProperties: {
        type: 'object',
        required: ['status'],
        properties: { status: { type: 'string', enum: ['up', 'down'] }, latencyMs: { type: 'integer' }, error: { type: 'string' } },
      },
    },
  },
};

/** Response headers of API.md: on every response, and the rate limit on every routed /api/v1 one. */
const RESPONSE_HEADERS = {
  'X-Request-Id': { description: "the request's id (the caller's X-Request-Id echoed when it sent one)", schema: { type: 'string' } },
  'X-RateLimit-Limit': { description: "requests allowed per window in this route's class (general, issue or batch), per key (per IP without one)", schema: { type: 'integer' } },
  'X-RateLimit-Remaining': { description: 'requests left in the current window', schema: { type: 'integer' } },
  'X-RateLimit-Reset': { description: 'when the window ends, unix seconds', schema: { type: 'integer' } },
  'Retry-After': { description: 'seconds until the window ends', schema: { type: 'integer' } },
};
const header = (name: keyof typeof RESPONSE_HEADERS) => ({ $ref: `#/components/headers/${name}` });
const RATE_LIMITED = ['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'] as const;

type ResponseObject = { description: string; content?: Record<string, unknown>; headers?: Record<string, unknown> };
type Operation = { responses?: Record<string, ResponseObject> };

/**
 * Every response gets X-Request-Id; those of /api/v1 routes also the rate-limit headers (refused bodies
 * too: rate-limit/unguarded-requests.ts) and a 429 Retry-After.
 */
function addResponseHeaders(paths: Record<string, Record<string, Operation>>): void {
  for (const [path, item] of Object.entries(paths)) {
    for (const operation of Object.values(item)) {
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        const names: (keyof typeof RESPONSE_HEADERS)[] = ['X-Request-Id'];
        if (path.startsWith('/api/v1/')) names.push(...RATE_LIMITED);
        if (status === '429') names.push('Retry-After');
        response.headers = { ...Object.fromEntries(names.map((name) => [name, header(name)])), ...response.headers };
      }
    }
  }
}

const errorResponse = (status: keyof typeof ERROR_RESPONSES) => ({
  description: ERROR_RESPONSES[status],
  content: { 'application/json': { schema: { $ref: ERROR_SCHEMA_REF } } },
});

/** GET /api/v1/ocsp/status/{serial} is answered by pki/ocsp-status.controller.ts; its responses are set here. */
function describeOcspStatus(paths: Record<string, Record<string, Operation>>): void {
  const operation = paths['/api/v1/ocsp/status/{serial}']?.get;
  if (!operation) return;
  operation.responses = {
    '200': {
      description: 'good, revoked, or unknown (a serial this key cannot see, or none at all)',
      content: { 'application/json': { schema: { $ref: getSchemaPath(OcspStatusView) } } },
    },
    ...Object.fromEntries(([400, 401, 403, 429, 500] as const).map((status) => [String(status), errorResponse(status)])),
  };
}

export function setupOpenApi(app: INestApplication): void {
  const config = new DocumentBuilder()
    .setTitle('Signet API')
    .setDescription(
      'Self-hosted private certificate authority. Every error has the shape of the `Error` schema. ' +
        'Authenticate with `Authorization: Bearer sgn_<id>_<secret>`.',
    )
    .setVersion('1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'sgn_<id>_<secret>' }, 'apiKey')
    .build();
  const document = SwaggerModule.createDocument(app, config, { extraModels: [OcspStatusView] });
  document.components = {
    ...document.components,
    schemas: { ...document.components?.schemas, Error: ERROR_SCHEMA, Readiness: READINESS_SCHEMA },
    headers: { ...document.components?.headers, ...RESPONSE_HEADERS },
  } as typeof document.components;
  document.paths = { ...document.paths, ...(structuredClone({ ...PKI_PATHS, ...OPS_PATHS }) as unknown as typeof document.paths) };
  const paths = document.paths as unknown as Record<string, Record<string, Operation>>;
  describeOcspStatus(paths);
  addResponseHeaders(paths);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'api/v1/openapi.json' });
}
