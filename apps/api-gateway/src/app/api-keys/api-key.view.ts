import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { ApiKeyEntity, CaPermissions } from '@signet/persistence';

/** An API key as the API shows it: never the secret or its hash. */
export class ApiKeyView {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() name: string;
  @ApiProperty({ example: 'sgn_3f9c2a7d1b6e4f80', description: 'the public start of the key' }) prefix: string;
  @ApiProperty({ enum: ['platform', 'admin', 'member'] }) role: string;
  @ApiProperty({
    example: { '6f1c...': { read: true, issue: true, revoke: false } },
    description: 'per-CA grants of a member key',
  })
  permissions: CaPermissions;
  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true }) expiresAt: string | null;
  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true }) revokedAt: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
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
