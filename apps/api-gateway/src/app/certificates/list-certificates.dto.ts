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

  @ApiPropertyOptional({
    description: "case-insensitive substring of: common name, any DNS SAN, serial or fingerprint (colons ignored), or the issuing CA's subject: " +
      'its common name or its DN as `CN=Issuing CA,O=Acme,C=DE` (RFC 4514 order; spaces around `=` and `,` ignored)',
  })
  @IsOptional() @IsString() @Length(1, 200)
  search?: string;

  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 64) usage?: string;

  @ApiPropertyOptional({
    type: Number, minimum: 1, maximum: 3650,
    description: 'a window of N days: active certificates whose validTo is within N days. Filters on its own (status left out, all or active) ' +
      'and with status=expiring (default 30 there); with status=expired or revoked it is refused (400)',
  })
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(3650)
  expiringInDays?: number;

  @ApiPropertyOptional({ format: 'uuid', description: 'certificates issued under this profile' }) @IsOptional() @IsUUID() profileId?: string;
  @ApiPropertyOptional({ format: 'uuid', description: 'alias of profileId (CertForge DTPs)' }) @IsOptional() @IsUUID() dtp?: string;
  @ApiPropertyOptional({ type: String, enum: ['issued', 'acme', 'imported', 'external-acme', 'discovered'], description: 'where they came from' })
  @IsOptional() @IsIn(['issued', 'acme', 'imported', 'external-acme', 'discovered'])
  source?: string;

  @ApiPropertyOptional({ format: 'date-time' }) @IsOptional() @IsTimestamp() createdFrom?: string;
  @ApiPropertyOptional({ format: 'date-time' }) @IsOptional() @IsTimestamp() createdTo?: string;

  @ApiPropertyOptional({ type: String, enum: ['validTo', 'commonName', 'createdAt'], default: 'createdAt' })
  @IsOptional() @IsIn(['validTo', 'commonName', 'createdAt'])
  sortBy: 'validTo' | 'commonName' | 'createdAt' = 'createdAt';

  @ApiPropertyOptional({ type: String, enum: ['asc', 'desc'], default: 'desc' })
  @IsOptional() @IsIn(['asc', 'desc'])
  sortOrder: 'asc' | 'desc' = 'desc';

  @ApiPropertyOptional({
    maxLength: 1024,
    description: 'keyset paging: the `nextCursor` of the page before, with the same sort and filters (pageSize may change). ' +
      'The page after that row, as fast deep in the list as at its start; `page` is left out, and `total`, `page` and `totalPages` are null ' +
      '(counting millions of rows is what a cursor avoids). A cursor from another query, or edited, is 400',
  })
  @IsOptional() @IsString() @Length(1, 1024)
  cursor?: string;
}

const TIMESTAMP_KEY = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/** Which sort keys a cursor of each sort may carry (what certificatesPage writes). */
export const CURSOR_KEY_IS_VALID: Record<ListCertificatesQueryDto['sortBy'], (key: string) => boolean> = {
  createdAt: (key) => TIMESTAMP_KEY.test(key) && Number.isFinite(Date.parse(key)),
  validTo: (key) => TIMESTAMP_KEY.test(key) && Number.isFinite(Date.parse(key)),
  commonName: (key) => key.length <= 1024,
};

/** The sort and filters a cursor is bound to (not the page size, which a client may change between pages). */
export const cursorQueryOf = (q: ListCertificatesQueryDto) =>
  JSON.stringify([q.sortBy, q.sortOrder, q.caId, q.status, q.search, q.usage, q.expiringInDays, q.profileId ?? q.dtp, q.source, q.createdFrom, q.createdTo]);
