import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Access } from '../access/access.decorator';
import { ApiErrors, BODY_ERRORS } from '../api-docs.decorator';
import { CertificateValidationView, ValidateCertificateDto } from './certificate-bundle.dto';
import { CertificateBundlesService } from './certificate-bundles.service';

@ApiTags('certificates')
@ApiBearerAuth('apiKey')
@ApiErrors(403)
@Controller('api/v1/certificates')
export class CertificateBundlesController {
  constructor(private readonly bundles: CertificateBundlesService) {}

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
}
