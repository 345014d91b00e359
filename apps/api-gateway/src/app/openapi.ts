/**
 * OpenAPI 3 document at /api/v1/openapi.json and Swagger UI at /docs, generated from the DTOs.
 */
import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';

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
  const document = SwaggerModule.createDocument(app, config);
  document.components = { ...document.components, schemas: { ...document.components?.schemas, Error: ERROR_SCHEMA } };
  document.paths = { ...document.paths, ...(PKI_PATHS as unknown as typeof document.paths) };
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'api/v1/openapi.json' });
}
