import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { ApiKeyEntity, CaPermissions } from '@signet/persistence';
import { PageView } from '../api-docs.decorator';

/** `{"<caId>": {"read": true, "issue": true, "revoke": false, "approve": false}}` */
export const CA_PERMISSIONS_SCHEMA = {
  type: 'object' as const,
  description: 'per-CA grants of a member key, by CA id; empty for an admin key, which may do everything in its org',
  additionalProperties: {
    type: 'object' as const,
    properties: { read: { type: 'boolean' as const }, issue: { type: 'boolean' as const }, revoke: { type: 'boolean' as const }, approve: { type: 'boolean' as const } },
  },
  example: { '6f1c2d9e-0000-4000-8000-000000000001': { read: true, issue: true, revoke: false, approve: false } },
};

/** An API key as the API shows it: never the secret or its hash. */
export class ApiKeyView {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() name: string;
  @ApiProperty({ example: 'sgn_3f9c2a7d1b6e4f80', description: 'the public start of the key' }) prefix: string;
  @ApiProperty({ enum: ['platform', 'admin', 'member'] }) role: string;
  @ApiProperty(CA_PERMISSIONS_SCHEMA) permissions: CaPermissions;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) expiresAt: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) revokedAt: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
}

export class ApiKeyPageView extends PageView {
  @ApiProperty({ type: () => [ApiKeyView] }) apiKeys: ApiKeyView[];
}

/**
 * The calling key in GET /whoami: an ApiKeyView, except for the operator's PLATFORM_ADMIN_KEY, which
 * is no stored key: then only `{id: null, name, prefix: null, role: "platform"}`.
 */
export class WhoamiKeyView {
  @ApiProperty({ type: String, format: 'uuid', nullable: true, description: 'null for PLATFORM_ADMIN_KEY' }) id: string | null;
  @ApiProperty() name: string;
  @ApiProperty({ type: String, nullable: true, description: 'null for PLATFORM_ADMIN_KEY' }) prefix: string | null;
  @ApiProperty({ enum: ['platform', 'admin', 'member'] }) role: string;
  @ApiPropertyOptional(CA_PERMISSIONS_SCHEMA) permissions?: CaPermissions;
  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true }) expiresAt?: string | null;
  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true }) revokedAt?: string | null;
  @ApiPropertyOptional({ format: 'date-time' }) createdAt?: string;
}

export const apiKeyView = (row: ApiKeyEntity): ApiKeyView => ({
  id: row.id,
  name: row.name,
  prefix: row.prefix,
  role: row.role,
  permissions: row.permissions,
  expiresAt: row.expiresAt?.toISOString() ?? null,
  revokedAt: row.revokedAt?.toISOString() ?? null,
  createdAt: row.createdAt.toISOString(),
});
