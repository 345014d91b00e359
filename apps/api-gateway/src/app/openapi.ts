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
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'api/v1/openapi.json' });
}
