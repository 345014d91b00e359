import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, IsUUID, Matches, Max, Min } from 'class-validator';

/** At most this many serials in one CRL info answer (a CA may have a million revoked). */
export const MAX_REVOKED_SERIALS_PAGE = 10_000;

export class ListCasQueryDto {
  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUUID()
  parentCaId?: string;

  @ApiPropertyOptional({ type: String, enum: ['root', 'intermediate', 'all'], default: 'all' })
  @IsOptional()
  @IsIn(['root', 'intermediate', 'all'])
  type: 'root' | 'intermediate' | 'all' = 'all';

  @ApiPropertyOptional({ type: Boolean, default: false })
  @IsOptional()
  @Transform(({ value }) => (value === 'true' ? true : value === 'false' ? false : value))
  @IsBoolean()
  includeRevoked = false;
}

export class CrlQueryDto {
  @ApiPropertyOptional({ type: String, enum: ['pem', 'der', 'info'], default: 'pem' })
  @IsOptional()
  @IsIn(['pem', 'der', 'info'])
  format: 'pem' | 'der' | 'info' = 'pem';

  @ApiPropertyOptional({ type: Number, minimum: 1, maximum: MAX_REVOKED_SERIALS_PAGE, default: 1000, description: 'info: at most this many revokedSerials' })
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(MAX_REVOKED_SERIALS_PAGE)
  revokedLimit = 1000;

  @ApiPropertyOptional({ type: String, description: "info: the serials after this one (the previous page's nextRevokedAfter); hex, colons and case ignored" })
  @IsOptional() @Matches(/^[0-9A-Fa-f:]{1,80}$/, { message: 'revokedAfter must be a serial in hex' })
  revokedAfter?: string;
}
