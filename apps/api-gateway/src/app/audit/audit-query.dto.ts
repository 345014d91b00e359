import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, IsUUID, Length, Matches, Max, Min, ValidateBy } from 'class-validator';

export const MAX_AUDIT_LIMIT = 1000;

/** A cursor is an event's seq: a PostgreSQL bigint, so at most 2^63 - 1. */
const isCursor = (value: unknown) => typeof value === 'string' && /^[0-9]{1,19}$/.test(value) && BigInt(value) <= 0x7fffffffffffffffn;

export class AuditQueryDto {
  @ApiPropertyOptional({ description: 'exact event type, or a prefix ending in "." (certificate.)', example: 'apiKey.' })
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9_.-]{1,100}$/, { message: 'eventType must be 1-100 characters of letters, digits, . _ -' })
  eventType?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 3650, description: 'only events of the last N days' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(3650)
  days?: number;

  @ApiPropertyOptional({ enum: ['success', 'failed', 'pending'] })
  @IsOptional()
  @IsIn(['success', 'failed', 'pending'])
  outcome?: 'success' | 'failed' | 'pending';

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @Length(1, 200)
  resourceId?: string;

  @ApiPropertyOptional({ type: Number, minimum: 1, maximum: MAX_AUDIT_LIMIT, default: 100, description: 'values above 1000 are capped' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Transform(({ value }) => (typeof value === 'number' ? Math.min(value, MAX_AUDIT_LIMIT) : value), { toClassOnly: true })
  limit = 100;

  @ApiPropertyOptional({ description: 'nextCursor of the previous page' })
  @IsOptional()
  @IsString()
  @ValidateBy({ name: 'isCursor', validator: { validate: isCursor } }, { message: 'cursor must be a nextCursor from a previous page' })
  cursor?: string;

  @ApiPropertyOptional({ format: 'uuid', description: 'platform admin only: narrow to one org' })
  @IsOptional()
  @IsUUID()
  orgId?: string;
}

export class AuditActorView {
  @ApiProperty({ enum: ['apiKey', 'device', 'system'] }) type: string;
  @ApiProperty({ type: String, nullable: true }) id: string | null;
  @ApiProperty({ type: String, nullable: true }) name: string | null;
}

export class AuditEventView {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'date-time' }) at: string;
  @ApiProperty({ type: String, nullable: true }) orgId: string | null;
  @ApiProperty({ example: 'certificate.issue' }) eventType: string;
  @ApiProperty({ enum: ['success', 'failed', 'pending'] }) outcome: string;
  @ApiProperty({ type: AuditActorView }) actor: AuditActorView;
  @ApiProperty({ type: String, nullable: true }) ip: string | null;
  @ApiProperty({ type: String, nullable: true }) resourceType: string | null;
  @ApiProperty({ type: String, nullable: true }) resourceId: string | null;
  @ApiProperty({ type: 'object', additionalProperties: true }) details: Record<string, unknown>;
  @ApiProperty({ type: 'object', nullable: true, properties: { code: { type: 'string' }, message: { type: 'string' } } })
  error: { code: string; message: string } | null;
  @ApiProperty({ type: Number, nullable: true }) durationMs: number | null;
}

export class AuditPageView {
  @ApiProperty({ type: [AuditEventView] }) events: AuditEventView[];
  @ApiProperty({ type: String, nullable: true, description: 'pass as cursor for the next (older) page' })
  nextCursor: string | null;
}
