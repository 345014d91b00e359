import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  IsIn,
  IsOptional,
  IsString,
  Length,
  ValidationArguments,
  ValidationOptions,
  registerDecorator,
} from 'class-validator';
import type { CaPermissions } from '@signet/persistence';
import { IsTimestamp } from '@signet/service';
import { ApiKeyView } from './api-key.view';

const ACTIONS = new Set(['read', 'issue', 'revoke', 'approve']);

/**
 * `{"<caId>": {"read": true, "issue": true, "revoke": false, "approve": false}}`: boolean grants, nothing
 * else. The keys are the service's to check (each must be the id of a CA of the org: a bad one is named
 * as `permissions.<key>`).
 */
function IsCaPermissions(options?: ValidationOptions) {
  return (target: object, propertyName: string) =>
    registerDecorator({
      name: 'isCaPermissions',
      target: target.constructor,
      propertyName,
      options: {
        message: (a: ValidationArguments) =>
          `${a.property} must map CA ids to {read, issue, revoke, approve} booleans, at most 1000 CAs`,
        ...options,
      },
      validator: {
        validate(value: unknown) {
          if (!value || typeof value !== 'object' || Array.isArray(value)) return false;
          const entries = Object.entries(value as Record<string, unknown>);
          return (
            entries.length <= 1000 &&
            entries.every(
              ([, grant]) =>
                !!grant &&
                typeof grant === 'object' &&
                !Array.isArray(grant) &&
                Object.entries(grant).every(([action, allowed]) => ACTIONS.has(action) && typeof allowed === 'boolean'),
            )
          );
        },
      },
    });
}

export class CreateApiKeyDto {
  @ApiProperty({ minLength: 1, maxLength: 100 })
  @IsString()
  @Length(1, 100)
  name: string;

  @ApiProperty({ enum: ['admin', 'member'] })
  @IsIn(['admin', 'member'])
  role: 'admin' | 'member';

  @ApiPropertyOptional({
    description: 'keyed by the ids of CAs of this org (lowercase UUIDs); any other key is 400 naming permissions.<key>',
    example: { '6f1c2d9e-0000-4000-8000-000000000001': { read: true, issue: true, revoke: false, approve: false } },
  })
  @IsOptional()
  @IsCaPermissions()
  permissions?: CaPermissions;

  @ApiPropertyOptional({ format: 'date-time', description: 'must be in the future' })
  @IsOptional()
  @IsTimestamp()
  expiresAt?: string;
}

export class CreatePlatformKeyDto {
  @ApiProperty({ minLength: 1, maxLength: 100 })
  @IsString()
  @Length(1, 100)
  name: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'must be in the future' })
  @IsOptional()
  @IsTimestamp()
  expiresAt?: string;
}

export class CreatedApiKeyView {
  @ApiProperty({ type: ApiKeyView }) apiKey: ApiKeyView;
  @ApiProperty({ description: 'the whole key, shown only here', example: 'sgn_3f9c2a7d1b6e4f80_…' }) key: string;
}
