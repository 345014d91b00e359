import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, IsUUID, Length, Max, Min } from 'class-validator';
import { IsTimestamp } from '@signet/service';
import { PageQueryDto } from '../paging';

export class ListCertificatesQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ format: 'uuid' }) @IsOptional() @IsUUID() caId?: string;

  @ApiPropertyOptional({ type: String, enum: ['active', 'expiring', 'expired', 'revoked', 'all'], default: 'all' })
  @IsOptional() @IsIn(['active', 'expiring', 'expired', 'revoked', 'all'])
  status: 'active' | 'expiring' | 'expired' | 'revoked' | 'all' = 'all';

  @ApiPropertyOptional({ description: 'case-insensitive: common name, any DNS SAN, serial or fingerprint' })
  @IsOptional() @IsString() @Length(1, 200)
  search?: string;

  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 64) usage?: string;

  @ApiPropertyOptional({ type: Number, default: 30, description: 'window of status=expiring' })
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(3650)
  expiringInDays = 30;

  @ApiPropertyOptional({ format: 'uuid', description: 'certificates issued under this profile' }) @IsOptional() @IsUUID() profileId?: string;
  @ApiPropertyOptional({ format: 'uuid', description: 'alias of profileId (CertForge DTPs)' }) @IsOptional() @IsUUID() dtp?: string;

  @ApiPropertyOptional({ format: 'date-time' }) @IsOptional() @IsTimestamp() createdFrom?: string;
  @ApiPropertyOptional({ format: 'date-time' }) @IsOptional() @IsTimestamp() createdTo?: string;

  @ApiPropertyOptional({ type: String, enum: ['validTo', 'commonName', 'createdAt'], default: 'createdAt' })
  @IsOptional() @IsIn(['validTo', 'commonName', 'createdAt'])
  sortBy: 'validTo' | 'commonName' | 'createdAt' = 'createdAt';

  @ApiPropertyOptional({ type: String, enum: ['asc', 'desc'], default: 'desc' })
  @IsOptional() @IsIn(['asc', 'desc'])
  sortOrder: 'asc' | 'desc' = 'desc';
}
