import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsOptional, IsUUID } from 'class-validator';

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
}
