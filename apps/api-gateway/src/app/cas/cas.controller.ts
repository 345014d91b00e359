import { Body, Controller, Get, HttpCode, Param, Patch, Post, Query, Res, StreamableFile } from '@nestjs/common';
import { RESOURCE_ID } from '../resource-id.pipe';
import { toPem } from '@signet/pki';
import { parseCrlShard } from '@signet/queue';
import { ApiError } from '@signet/service';
import type { Response } from 'express';
import { ApiBearerAuth, ApiCreatedResponse, ApiExtraModels, ApiOkResponse, ApiOperation, ApiResponse, ApiTags, getSchemaPath } from '@nestjs/swagger';
import { ApiErrors, BODY_ERRORS } from '../api-docs.decorator';
import { Audited } from '../audit/audited.decorator';
import { CaChainView, CaEnvelopeView, CaListView, CrlInfoView } from './ca.view';
import { CreateCaDto, ImportCaDto, RevokeCaDto, UpdateCaDto } from './create-ca.dto';
import { Access } from '../access/access.decorator';
import type { OrgPrincipal } from '../access/principal';
import { CrlQueryDto, ListCasQueryDto } from './cas.dto';
import { CasService } from './cas.service';
import { CurrentCaller, CurrentPrincipal, OrgCaller } from '../access/caller';

@ApiTags('certificate authorities')
@ApiBearerAuth('apiKey')
@ApiErrors(403)
@ApiExtraModels(CrlInfoView)
@Controller('api/v1/cas')
export class CasController {
  constructor(private readonly cas: CasService) {}

  @Post()
  @Access('orgAdmin')
  @Audited('ca.create', 'ca')
  @ApiOperation({ summary: 'Create a root CA, or an intermediate under parentCaId; the key is made and kept by the signer' })
  @ApiCreatedResponse({ type: CaEnvelopeView, description: 'the new CA, with its certificate PEM' })
  @ApiErrors(...BODY_ERRORS, 404, 409, 422, 503)
  create(@CurrentCaller() caller: OrgCaller, @Body() dto: CreateCaDto) {
    return this.cas.create(caller, dto);
  }

  @Post('import')
  @Access('orgAdmin')
  @Audited('ca.import', 'ca')
  @ApiOperation({
    summary: 'Import an externally signed CA (certificate, its key, optional chain); the key is sealed to the signer and kept encrypted there',
    description: '409 conflict when the certificate or a chain certificate has the subject and key identifier of another CA on the platform (of any org) but a different key: verifiers pick issuers by name and key identifier, so the two would shadow each other.',
  })
  @ApiCreatedResponse({ type: CaEnvelopeView, description: 'the imported CA, with its certificate PEM' })
  @ApiErrors(...BODY_ERRORS, 409, 422, 503)
  import(@CurrentCaller() caller: OrgCaller, @Body() dto: ImportCaDto) {
    return this.cas.import(caller, dto);
  }

  @Get()
  @Access('orgKey')
  @ApiOperation({ summary: 'CAs of the org this key may read' })
  @ApiOkResponse({ type: CaListView })
  list(@CurrentPrincipal() principal: OrgPrincipal, @Query() q: ListCasQueryDto) {
    return this.cas.list(principal, q);
  }

  @Get(':id')
  @Access({ ca: 'read', from: 'param.id' })
  @ApiOperation({ summary: 'One CA, with its certificate PEM' })
  @ApiOkResponse({ type: CaEnvelopeView })
  @ApiErrors(404)
  get(@CurrentPrincipal() principal: OrgPrincipal, @Param('id', RESOURCE_ID) id: string) {
    return this.cas.get(principal, id);
  }

  @Patch(':id')
  @Access('orgAdmin')
  @Audited('ca.update', 'ca')
  @ApiOperation({
    summary: 'Change how many CRL shards the CA\'s new leaves are spread over (crlShards 1..256)',
    description: 'The first CRL of every new shard is published before the answer. Certificates already issued keep the shard their CRL distribution point names, and that shard stays published and refreshed.',
  })
  @ApiOkResponse({ type: CaEnvelopeView, description: 'the CA' })
  @ApiErrors(...BODY_ERRORS, 404, 422, 503)
  update(@CurrentCaller() caller: OrgCaller, @Param('id', RESOURCE_ID) id: string, @Body() dto: UpdateCaDto) {
    return this.cas.update(caller, id, dto);
  }

  @Post(':id/revoke')
  @HttpCode(200)
  @Access('orgAdmin')
  @Audited('ca.revoke', 'ca')
  @ApiOperation({ summary: 'Revoke an intermediate CA: issuing from it stops (ca_unavailable)' })
  @ApiOkResponse({ type: CaEnvelopeView, description: 'the revoked CA' })
  @ApiErrors(...BODY_ERRORS, 404, 409, 422, 503)
  revoke(@CurrentCaller() caller: OrgCaller, @Param('id', RESOURCE_ID) id: string, @Body() dto: RevokeCaDto) {
    return this.cas.revoke(caller, id, dto);
  }

  @Get(':id/crl')
  @Access({ ca: 'read', from: 'param.id' })
  @ApiOperation({
    summary: "The CA's current CRL as pem, der, or info {caId, issuer, crlNumber, thisUpdate, nextUpdate, revokedCount, revokedSerials, nextRevokedAfter}",
    description: 'info lists the revoked serials a page at a time: at most `revokedLimit` (default 1000, max 10000) in serial order; ' +
      'when there are more, `nextRevokedAfter` is the serial to pass as `revokedAfter` for the next page (null on the last). ' +
      '`revokedCount` is the whole CRL\'s.',
  })
  @ApiResponse({
    status: 200,
    description: 'pem: application/x-pem-file; der: application/pkix-crl; info: application/json',
    headers: { 'Content-Disposition': { description: 'pem and der: attachment; filename="<caId>.crl[.pem]"', schema: { type: 'string' } } },
    content: {
      'application/x-pem-file': { schema: { type: 'string', example: '-----BEGIN X509 CRL-----\n...' } },
      'application/pkix-crl': { schema: { type: 'string', format: 'binary' } },
      'application/json': { schema: { $ref: getSchemaPath(CrlInfoView) } },
    },
  })
  @ApiErrors(404)
  crl(@CurrentPrincipal() principal: OrgPrincipal, @Param('id', RESOURCE_ID) id: string, @Query() q: CrlQueryDto, @Res({ passthrough: true }) res: Response) {
    return this.answerCrl(principal, id, null, q, res);
  }

  @Get(':id/crl/:shard')
  @Access({ ca: 'read', from: 'param.id' })
  @ApiOperation({
    summary: "One shard's current CRL (crlShards > 1), as pem, der, or info (as for the full CRL, with shard set)",
    description: 'The shards a lowered crlShards no longer hands out stay here while certificates name them. 404 for a shard that never had a CRL.',
  })
  @ApiResponse({
    status: 200,
    description: 'pem: application/x-pem-file; der: application/pkix-crl; info: application/json',
    headers: { 'Content-Disposition': { description: 'pem and der: attachment; filename="<caId>-<shard>.crl[.pem]"', schema: { type: 'string' } } },
    content: {
      'application/x-pem-file': { schema: { type: 'string', example: '-----BEGIN X509 CRL-----\n...' } },
      'application/pkix-crl': { schema: { type: 'string', format: 'binary' } },
      'application/json': { schema: { $ref: getSchemaPath(CrlInfoView) } },
    },
  })
  @ApiErrors(404)
  crlShard(
    @CurrentPrincipal() principal: OrgPrincipal, @Param('id', RESOURCE_ID) id: string, @Param('shard') shardText: string, @Query() q: CrlQueryDto,
    @Res({ passthrough: true }) res: Response,
  ) {
    // As the public endpoint reads it: a shard number names a CRL or nothing, so anything else is an unknown shard.
    const shard = parseCrlShard(shardText);
    if (shard === null) throw new ApiError('not_found', 'not found (CRL shards are numbered 0 to 255)');
    return this.answerCrl(principal, id, shard, q, res);
  }

  private async answerCrl(principal: OrgPrincipal, id: string, shard: number | null, q: CrlQueryDto, res: Response) {
    if (q.format === 'info') return this.cas.crlInfo(principal, id, { limit: q.revokedLimit, after: q.revokedAfter }, shard);
    const crl = await this.cas.crl(principal, id, shard);
    res.setHeader('Content-Disposition', `attachment; filename="${id}${shard === null ? '' : `-${shard}`}.crl${q.format === 'pem' ? '.pem' : ''}"`);
    if (q.format === 'pem') {
      res.type('application/x-pem-file');
      return toPem('X509 CRL', crl.der);
    }
    res.type('application/pkix-crl');
    return new StreamableFile(crl.der);
  }

  @Get(':id/chain')
  @Access({ ca: 'read', from: 'param.id' })
  @ApiOperation({ summary: 'The CA and its issuers up to the root, as PEM' })
  @ApiOkResponse({ type: CaChainView })
  @ApiErrors(404)
  chain(@CurrentPrincipal() principal: OrgPrincipal, @Param('id', RESOURCE_ID) id: string) {
    return this.cas.chain(principal, id);
  }
}
