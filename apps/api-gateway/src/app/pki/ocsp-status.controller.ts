import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { ApiError } from '@signet/service';
import { InjectDataSource } from '@nestjs/typeorm';
import { serialStatusInOrg } from '@signet/persistence';
import { DataSource } from 'typeorm';
import { Access } from '../access/access.decorator';
import { OrgPrincipal, readableCaIds } from '../access/principal';
import { ApiErrors } from '../api-docs.decorator';
import { OcspStatusView } from '../certificates/certificate.view';
import { CurrentPrincipal } from '../access/caller';

export class OcspStatusQueryDto {
  @ApiPropertyOptional({ type: String, enum: ['hex', 'decimal'], default: 'hex', description: 'how :serial is written: hex (colons and case ignored) or decimal (as some tools print serials)' })
  @IsOptional() @IsIn(['hex', 'decimal'])
  serialFormat: 'hex' | 'decimal' = 'hex';
}

/** A serial as API.md writes serials (uppercase hex, even length); a decimal one converted. */
function serialOf(param: string, format: 'hex' | 'decimal'): string {
  if (format === 'hex') return param.replace(/:/g, '').toUpperCase();
  // RFC 5280 serials are at most 20 octets: 49 decimal digits.
  if (!/^\d{1,49}$/.test(param) || /^0+$/.test(param)) throw ApiError.validation([{ field: 'serial', messages: ['a decimal serial is 1 to 49 digits, not zero'] }]);
  const hex = BigInt(param).toString(16).toUpperCase();
  return hex.length % 2 ? `0${hex}` : hex;
}

/**
 * The revocation status of a serial as JSON, for people and scripts (relying parties use /pki/ocsp).
 * Leaves and intermediates of the caller's org that it may read; anything else is `unknown`, as an
 * OCSP responder would say of a serial it never issued.
 */
@ApiTags('certificates')
@ApiBearerAuth('apiKey')
@Controller('api/v1/ocsp/status')
export class OcspStatusController {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  @Get(':serial')
  @Access('orgKey')
  @ApiOperation({
    summary: 'good, revoked or unknown for a serial (hex, colons and case ignored; or decimal with serialFormat=decimal)',
    description: 'thisUpdate/nextUpdate are those of the pre-signed OCSP response. serialNumber in the answer is always uppercase hex.',
  })
  @ApiOkResponse({ type: OcspStatusView })
  @ApiErrors(400)
  async status(@CurrentPrincipal() principal: OrgPrincipal, @Param('serial') serialParam: string, @Query() q: OcspStatusQueryDto) {
    const serialNumber = serialOf(serialParam, q.serialFormat);
    const unknown = { serialNumber, caId: null, status: 'unknown', revokedAt: null, revocationReason: null, thisUpdate: null, nextUpdate: null };
    if (!/^[0-9A-F]{1,40}$/.test(serialNumber)) return unknown;
    const row = await serialStatusInOrg(this.dataSource.manager, serialNumber, principal.orgId);
    const readable = readableCaIds(principal);
    if (!row || (readable && !readable.includes(row.caId))) return unknown;
    return {
      serialNumber,
      caId: row.caId,
      status: row.status === 'revoked' ? 'revoked' : 'good',
      revokedAt: row.revokedAt?.toISOString() ?? null,
      revocationReason: row.revocationReason,
      thisUpdate: row.thisUpdate?.toISOString() ?? null,
      nextUpdate: row.nextUpdate?.toISOString() ?? null,
    };
  }
}
