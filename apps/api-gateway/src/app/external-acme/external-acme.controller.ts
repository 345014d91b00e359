import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Access } from '../access/access.decorator';
import { CurrentCaller, CurrentPrincipal, OrgCaller } from '../access/caller';
import type { OrgPrincipal } from '../access/principal';
import { ApiErrors, BODY_ERRORS } from '../api-docs.decorator';
import { Audited } from '../audit/audited.decorator';
import { PageQueryDto } from '../paging';
import { RESOURCE_ID } from '../resource-id.pipe';
import { AcmeAccountEnvelopeView, AcmeAccountPageView, AcmeOrderEnvelopeView, CreateAcmeAccountDto, ObtainCertificateDto } from './external-acme.dto';
import { ExternalAcmeService } from './external-acme.service';

@ApiTags('outside ACME CAs')
@ApiBearerAuth('apiKey')
@ApiErrors(403)
@Controller('api/v1')
export class ExternalAcmeController {
  constructor(private readonly externalAcme: ExternalAcmeService) {}

  @Post('acme-accounts')
  @Access('orgAdmin')
  @Audited('external_acme_account.create', 'external_acme_account')
  @ApiOperation({
    summary: 'Open an account at an outside ACME CA (Let\'s Encrypt, ZeroSSL, any RFC 8555 server)',
    description: 'Signet generates the account key (P-256) and keeps it encrypted at rest (WEBHOOK_SECRET_KEY); eab binds it for CAs that require external account binding. ' +
      'A directory that is not ACME, or a CA that refuses (bad EAB, terms), is 400 with the CA\'s words in details.problem.',
  })
  @ApiCreatedResponse({ type: AcmeAccountEnvelopeView })
  @ApiErrors(...BODY_ERRORS)
  createAccount(@CurrentCaller() caller: OrgCaller, @Body() dto: CreateAcmeAccountDto) {
    return this.externalAcme.createAccount(caller, dto);
  }

  @Get('acme-accounts')
  @Access('orgAdmin')
  @ApiOperation({ summary: "The org's outside ACME accounts, newest first (never their keys)" })
  @ApiOkResponse({ type: AcmeAccountPageView })
  listAccounts(@CurrentPrincipal() principal: OrgPrincipal, @Query() q: PageQueryDto) {
    return this.externalAcme.listAccounts(principal, q);
  }

  @Get('acme-accounts/:id')
  @Access('orgAdmin')
  @ApiOperation({ summary: 'One outside ACME account of the org' })
  @ApiOkResponse({ type: AcmeAccountEnvelopeView })
  @ApiErrors(404)
  getAccount(@CurrentPrincipal() principal: OrgPrincipal, @Param('id', RESOURCE_ID) id: string) {
    return this.externalAcme.getAccount(principal, id);
  }

  @Delete('acme-accounts/:id')
  @HttpCode(204)
  @Access('orgAdmin')
  @Audited('external_acme_account.deactivate', 'external_acme_account')
  @ApiOperation({ summary: 'Deactivate the account at its CA (RFC 8555 7.3.6), then in Signet: its certificates stop renewing through it' })
  @ApiNoContentResponse({ description: 'deactivated' })
  @ApiErrors(404, 409, 503)
  async deactivateAccount(@CurrentCaller() caller: OrgCaller, @Param('id', RESOURCE_ID) id: string) {
    await this.externalAcme.deactivateAccount(caller, id);
  }

  @Post('certificates/obtain')
  @HttpCode(202)
  @Access('orgAdmin')
  @Audited('certificate.obtain', 'external_acme_order')
  @ApiOperation({
    summary: 'Obtain a certificate from an outside ACME CA through an account: an order, worked in the background',
    description: 'http-01: the CA fetches http://<name>/.well-known/acme-challenge/<token> from the gateways (port 80 must reach them). ' +
      'dns-01: the TXT record goes up through dnsProvider (credentials encrypted at rest, never returned). The key is made by Signet per order and kept encrypted ' +
      'like storeKey; the certificate joins the inventory with source external-acme. dryRun runs at the account\'s staging directory and stores nothing. ' +
      'Follow GET /api/v1/acme-orders/{id}: valid with certificateId, or invalid with the CA\'s problem in error.',
  })
  @ApiAcceptedResponse({ type: AcmeOrderEnvelopeView })
  @ApiErrors(...BODY_ERRORS, 404)
  obtain(@CurrentCaller() caller: OrgCaller, @Body() dto: ObtainCertificateDto) {
    return this.externalAcme.obtain(caller, dto);
  }

  @Get('acme-orders/:id')
  @Access('orgAdmin')
  @ApiOperation({ summary: 'An order at an outside ACME CA: pending, processing, valid (certificateId) or invalid (error)' })
  @ApiOkResponse({ type: AcmeOrderEnvelopeView })
  @ApiErrors(404)
  getOrder(@CurrentPrincipal() principal: OrgPrincipal, @Param('id', RESOURCE_ID) id: string) {
    return this.externalAcme.getOrder(principal, id);
  }
}
