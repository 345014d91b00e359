import { Body, Controller, Get, HttpCode, Param, Patch, Post, Query, Req, Res } from '@nestjs/common';
import { RESOURCE_ID } from '../resource-id.pipe';
import { AcmeOrderEnvelopeView } from '../external-acme/external-acme.dto';
import type { Response } from 'express';
import {
  ApiAcceptedResponse, ApiBearerAuth, ApiBody, ApiCreatedResponse, ApiExtraModels, ApiHeader, ApiOkResponse, ApiOperation, ApiResponse, ApiTags, getSchemaPath,
} from '@nestjs/swagger';
import { ApiErrors, BODY_ERRORS } from '../api-docs.decorator';
import { BatchIssueDto, batchItems } from './batch';
import { BatchIssueResultView, BatchItemsRequestView, BatchRowsRequestView } from './batch.view';
import {
  CertificateEnvelopeView, CertificateFilesView, CertificatePageView, CertificateStatsView, IssuedCertificateView, RevokedCertificateView,
} from './certificate.view';
import { Access } from '../access/access.decorator';
import { CaAction, OrgPrincipal, requireOnCa } from '../access/principal';
import { Audited } from '../audit/audited.decorator';
import { RateLimit } from '../rate-limit/rate-limit.decorator';
import { issueDuration } from '../gateway-metrics';
import type { GatewayRequest } from '../request-context';
import { CertificatesService } from './certificates.service';
import { ApprovalEnvelopeView } from '../approvals/approval.dto';
import { IssueCertificateDto } from './issue-certificate.dto';
import { ListCertificatesQueryDto } from './list-certificates.dto';
import { DownloadBodyDto, DownloadQueryDto, PatchCertificateDto, RenewCertificateDto, RevokeCertificateDto, StatsQueryDto } from './certificate-actions.dto';
import { CurrentCaller, CurrentPrincipal, OrgCaller } from '../access/caller';
import { PatchedCertificateEnvelopeView } from '../agents/agent.dto';

/** Read from the request, not with @Headers(): Swagger would list that as a second, required header. */
function idempotencyKeyOf(req: GatewayRequest): string | undefined {
  const key = req.headers['idempotency-key'];
  return Array.isArray(key) ? key[0] : key;
}

const pem = { schema: { type: 'string', example: '-----BEGIN CERTIFICATE-----\n...' } };
const binary = { schema: { type: 'string', format: 'binary' } };
/** What GET and POST .../download answer with, by format. */
const DOWNLOAD_CONTENT = {
  'application/x-pem-file': pem,
  'application/pkix-cert': binary,
  'application/pkcs10': pem,
  'application/json': { schema: { $ref: getSchemaPath(CertificateFilesView) } },
  'application/zip': binary,
  'application/x-pkcs12': binary,
};

@ApiTags('certificates')
@ApiBearerAuth('apiKey')
@ApiErrors(403)
@ApiExtraModels(BatchItemsRequestView, BatchRowsRequestView, CertificateFilesView)
@Controller('api/v1/certificates')
export class CertificatesController {
  constructor(private readonly certificates: CertificatesService) {}

  @Post()
  // The issuing CA may come from the profile: the service checks the issue permission on it.
  @Access('orgKey')
  @RateLimit('issue')
  @Audited('certificate.issue', 'certificate')
  @ApiOperation({ summary: 'Issue a certificate (managed: the signer makes the key; csr: from your PKCS#10)' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'csr mode: same key + same body within 24 h -> the same certificate' })
  @ApiCreatedResponse({ type: IssuedCertificateView, description: 'the certificate with its PEM and chain; privateKey in managed mode' })
  @ApiAcceptedResponse({ type: ApprovalEnvelopeView, description: 'under a profile with requireApproval: the request, waiting for approval; nothing signed yet' })
  @ApiErrors(...BODY_ERRORS, 404, 409, 422, 503)
  async issue(@CurrentCaller() caller: OrgCaller, @Req() req: GatewayRequest, @Body() dto: IssueCertificateDto, @Res({ passthrough: true }) res: Response) {
    const answered = issueDuration.startTimer();
    const result = await this.certificates.issue(caller, dto, idempotencyKeyOf(req)).finally(() => void answered());
    // Under a profile with requireApproval nothing is signed yet: 202 with the request (API.md section 6).
    if ('approval' in result) res.status(202);
    return result;
  }

  @Post('batch')
  @HttpCode(201)
  @Access('orgKey')
  @RateLimit('batch')
  @Audited('certificate.batch', 'certificate')
  @ApiOperation({ summary: 'Issue up to 1000 certificates: items, or CertMate headers and rows; errors per item' })
  @ApiBody({
    description: '`{items: [issue request, ...]}`, or CertMate\'s `{caId, headers, rows}`; at most 1000',
    schema: { oneOf: [{ $ref: getSchemaPath(BatchItemsRequestView) }, { $ref: getSchemaPath(BatchRowsRequestView) }] },
  })
  @ApiCreatedResponse({ type: BatchIssueResultView, description: 'per-item results: issued certificates and refusals, by index' })
  @ApiErrors(...BODY_ERRORS, 503)
  batch(@CurrentCaller() caller: OrgCaller, @Body() dto: BatchIssueDto) {
    return this.certificates.batch(caller, batchItems(dto));
  }

  @Get()
  @Access('orgKey')
  @ApiOperation({
    summary: 'Certificates with filters, search, sort and pages (a member sees those of CAs it may read)',
    description: '`expiringInDays=N` alone lists the active certificates whose validTo is within N days (as status=expiring does); ' +
      '`search` also matches the issuing CA\'s common name or subject DN.',
  })
  @ApiOkResponse({ type: CertificatePageView })
  list(@CurrentPrincipal() principal: OrgPrincipal, @Query() q: ListCertificatesQueryDto) {
    return this.certificates.list(principal, q);
  }

  @Get('stats')
  @Access('orgKey')
  @ApiOperation({ summary: 'Counts by status, expiry window, CA (byCa by id, byIssuer by common name), usage and key algorithm' })
  @ApiOkResponse({ type: CertificateStatsView })
  stats(@CurrentPrincipal() principal: OrgPrincipal, @Query() q: StatsQueryDto) {
    return this.certificates.stats(principal, q.caId);
  }

  @Get(':id/download')
  @Access('orgKey')
  @ApiOperation({
    summary: 'Download as pem, der, chain, fullchain, key, csr, json, zip or p12',
    description:
      '`key` and `p12` (a stored managed key) need the issue permission on the CA; `json` and `zip` include the key when one is stored and the caller may issue. ' +
      '`p12` needs `password` (POST this path with a JSON body to keep it out of URLs); `legacy=true` writes 3DES and a SHA-1 MAC for old readers.',
  })
  @ApiResponse({
    status: 200,
    description:
      'pem, chain, fullchain and key: application/x-pem-file; der: application/pkix-cert; csr: application/pkcs10 (PEM); ' +
      'json: application/json; zip: application/zip (certificate.pem, chain.pem, fullchain.pem, request.csr?, private.key?); p12: application/x-pkcs12',
    headers: { 'Content-Disposition': { description: 'attachment; filename="<commonName>.<ext>"', required: true, schema: { type: 'string' } } },
    content: DOWNLOAD_CONTENT,
  })
  @ApiErrors(404, 503)
  async download(@CurrentCaller() caller: OrgCaller, @Param('id', RESOURCE_ID) id: string, @Query() q: DownloadQueryDto, @Res() res: Response) {
    await this.send(res, await this.certificates.download(caller, id, q.format, q));
  }

  @Post(':id/download')
  @HttpCode(200)
  @Access('orgKey')
  @ApiOperation({ summary: 'The same downloads, asked for in a JSON body: a p12 password stays out of URLs and access logs' })
  @ApiResponse({
    status: 200,
    description: 'as GET .../download',
    headers: { 'Content-Disposition': { description: 'attachment; filename="<commonName>.<ext>"', required: true, schema: { type: 'string' } } },
    content: DOWNLOAD_CONTENT,
  })
  @ApiErrors(...BODY_ERRORS, 404, 503)
  async downloadPost(@CurrentCaller() caller: OrgCaller, @Param('id', RESOURCE_ID) id: string, @Body() body: DownloadBodyDto, @Res() res: Response) {
    await this.send(res, await this.certificates.download(caller, id, body.format, body));
  }

  private async send(res: Response, file: { body: Buffer | string | object; contentType: string; filename: string }) {
    res.setHeader('Content-Disposition', `attachment; filename="${file.filename}"`);
    if (file.contentType === 'application/json') return void res.json(file.body);
    res.type(file.contentType).send(file.body);
  }

  @Patch(':id')
  @Access('orgKey')
  @Audited('certificate.update', 'certificate')
  @ApiOperation({ summary: 'Change autoRenew, renewalThresholdDays, notes or deployTargets', description: 'autoRenew: true that could never work (a managed certificate without a stored key; a CA whose key needs a passphrase) is 422 policy_violation with details.rule autoRenew. deployTargets [{agentId, target}]: every renewal of the certificate is deployed there by the agent; the answer lists them.' })
  @ApiOkResponse({ type: PatchedCertificateEnvelopeView })
  @ApiErrors(...BODY_ERRORS, 404, 422)
  async patch(@CurrentCaller() caller: OrgCaller, @Param('id', RESOURCE_ID) id: string, @Body() dto: PatchCertificateDto) {
    await this.requireOnCertificate(caller.principal, id, 'issue');
    return this.certificates.patch(caller, id, dto);
  }

  @Post(':id/revoke')
  @HttpCode(200)
  @Access('orgKey')
  @Audited('certificate.revoke', 'certificate')
  @ApiOperation({ summary: 'Revoke with an RFC 5280 reason; 409 already_revoked the second time' })
  @ApiOkResponse({ type: RevokedCertificateView, description: 'the revoked certificate (without PEM); OCSP already says revoked' })
  @ApiErrors(...BODY_ERRORS, 404, 409, 503)
  async revoke(@CurrentCaller() caller: OrgCaller, @Param('id', RESOURCE_ID) id: string, @Body() dto: RevokeCertificateDto) {
    await this.requireOnCertificate(caller.principal, id, 'revoke');
    return this.certificates.revoke(caller, id, dto);
  }

  @Post(':id/renew')
  @Access('orgKey')
  @RateLimit('issue')
  @Audited('certificate.renew', 'certificate')
  @ApiOperation({ summary: 'Renew: same subject, SANs, usage and CA; a new serial (managed: a new key; csr: a new csrPem)' })
  @ApiHeader({
    name: 'Idempotency-Key', required: false,
    description: 'csr-mode certificates only (managed: 400): same key + same certificate and body within 24 h -> the same renewed certificate, ' +
      'also when retries race; the key with another body or certificate: 422 idempotency_mismatch',
  })
  @ApiCreatedResponse({ type: IssuedCertificateView, description: 'the new certificate; the old one gets supersededById' })
  @ApiAcceptedResponse({ type: AcmeOrderEnvelopeView, description: 'a certificate from an outside ACME CA: its renewal order there (GET /api/v1/acme-orders/{id}); the renewal gets supersededById when it is valid' })
  @ApiErrors(...BODY_ERRORS, 404, 409, 422, 503)
  async renew(
    @CurrentCaller() caller: OrgCaller, @Req() req: GatewayRequest, @Res({ passthrough: true }) res: Response, @Param('id', RESOURCE_ID) id: string, @Body() dto: RenewCertificateDto,
  ) {
    await this.requireOnCertificate(caller.principal, id, 'issue');
    if (dto.revokeOld) await this.requireOnCertificate(caller.principal, id, 'revoke');
    const renewed = await this.certificates.renew(caller, id, dto, idempotencyKeyOf(req));
    if ('order' in renewed) res.status(202);
    return renewed;
  }

  /** Per-CA permission on the certificate's CA (the route names a certificate, not a CA). */
  private async requireOnCertificate(principal: OrgPrincipal, id: string, action: CaAction) {
    const row = await this.certificates.readable(principal, id);
    requireOnCa(principal, row.caId, action, 'certificate');
  }

  @Get(':id')
  @Access('orgKey')
  @Audited('certificate.get', 'certificate')
  @ApiOperation({ summary: 'One certificate with its PEM and chain' })
  @ApiOkResponse({ type: CertificateEnvelopeView })
  @ApiErrors(404)
  get(@CurrentPrincipal() principal: OrgPrincipal, @Param('id', RESOURCE_ID) id: string) {
    return this.certificates.get(principal, id);
  }
}
