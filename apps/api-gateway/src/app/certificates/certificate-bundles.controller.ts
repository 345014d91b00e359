import { Body, Controller, Delete, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { Access } from '../access/access.decorator';
import { ApiErrors, BODY_ERRORS } from '../api-docs.decorator';
import { BundleFindingView, CertificateValidationView, ImportCertificateDto, ValidateCertificateDto } from './certificate-bundle.dto';
import { CertificateWithPemView } from './certificate.view';
import { Audited } from '../audit/audited.decorator';
import { CurrentCaller, OrgCaller } from '../access/caller';
import { RESOURCE_ID } from '../resource-id.pipe';
import { CertificatesService } from './certificates.service';

class ImportedCertificateView {
  @ApiProperty({ type: CertificateWithPemView }) certificate: CertificateWithPemView;
  @ApiProperty({ type: [BundleFindingView], description: "validate's warnings (expiring, weak_key, chain_missing, ...)" }) warnings: BundleFindingView[];
}
import { CertificateBundlesService } from './certificate-bundles.service';

@ApiTags('certificates')
@ApiBearerAuth('apiKey')
@ApiErrors(403)
@Controller('api/v1/certificates')
export class CertificateBundlesController {
  constructor(
    private readonly bundles: CertificateBundlesService,
    private readonly certificates: CertificatesService,
  ) {}

  @Post('validate')
  @HttpCode(200)
  @Access('orgKey')
  @ApiOperation({
    summary: 'Judge a certificate from elsewhere (PEM, or PKCS#12 modern or legacy): key match, chain order and completeness, domain coverage, expiry, weak keys',
    description: 'Stores nothing. Problems that make it unusable are in errors (valid: false); expiring within 30 days, weak keys, SHA-1 and a missing chain are warnings. Unreadable input (garbage PEM, a wrong PKCS#12 password) is 400 validation_failed naming the field.',
  })
  @ApiOkResponse({ type: CertificateValidationView })
  @ApiErrors(...BODY_ERRORS)
  validate(@Body() dto: ValidateCertificateDto) {
    return this.bundles.validate(dto);
  }

  @Post('import')
  @Access('orgAdmin')
  @Audited('certificate.import', 'certificate')
  @ApiOperation({
    summary: 'Put a certificate from elsewhere in the inventory (PEM or PKCS#12, with its chain and, optionally, its key)',
    description:
      'Judged as validate judges it: any error (expired, key_mismatch, chain_order, ...) is 400 validation_failed listing them. The certificate gets source imported, caId null and its issuer; ' +
      'a key is kept encrypted at rest like storeKey (format=key and p12 downloads need an org admin). The same certificate twice: 409. autoRenew true: 422 (its issuer renews it).',
  })
  @ApiCreatedResponse({ type: ImportedCertificateView })
  @ApiErrors(...BODY_ERRORS, 409, 422, 503)
  import(@CurrentCaller() caller: OrgCaller, @Body() dto: ImportCertificateDto) {
    return this.bundles.import(caller, dto);
  }

  @Delete(':id')
  @HttpCode(204)
  @Access('orgAdmin')
  @Audited('certificate.delete', 'certificate')
  @ApiOperation({ summary: 'Remove a certificate from elsewhere (imported) from the inventory; one a Signet CA issued is revoked instead (409)' })
  @ApiNoContentResponse({ description: 'removed' })
  @ApiErrors(404, 409)
  async remove(@CurrentCaller() caller: OrgCaller, @Param('id', RESOURCE_ID) id: string) {
    await this.bundles.remove(caller, id, await this.certificates.readable(caller.principal, id));
  }
}
