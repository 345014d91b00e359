/**
 * Certificates from elsewhere (API.md section 8): a bundle (PEM or PKCS#12) read and judged by
 * libs/pki bundle.ts. validate stores nothing and keeps nothing of the key.
 */
import { Injectable } from '@nestjs/common';
import { Bundle, BundleInputError, BundleReport, checkBundle, readBundle } from '@signet/pki';
import { ApiError, Clock } from '@signet/service';
import type { CertificateBundleDto, ValidateCertificateDto } from './certificate-bundle.dto';

const BASE64 = /^[A-Za-z0-9+/\s]+={0,2}\s*$/;

@Injectable()
export class CertificateBundlesService {
  constructor(private readonly clock: Clock) {}

  /** The inputs read, or 400 validation_failed naming the field that could not be. */
  read(dto: CertificateBundleDto): Bundle {
    if (!dto.certificatePem && !dto.pfxBase64) {
      throw ApiError.validation([{ field: 'certificatePem', messages: ['give certificatePem (PEM) or pfxBase64 (a PKCS#12 file)'] }]);
    }
    if (dto.pfxBase64 !== undefined && !BASE64.test(dto.pfxBase64)) throw ApiError.validation([{ field: 'pfxBase64', messages: ['pfxBase64 is not base64'] }]);
    try {
      return readBundle({
        certificatePem: dto.certificatePem, chainPem: dto.chainPem, privateKeyPem: dto.privateKeyPem,
        pfx: dto.pfxBase64 !== undefined ? Buffer.from(dto.pfxBase64, 'base64') : undefined, pfxPassword: dto.pfxPassword,
      });
    } catch (error) {
      if (error instanceof BundleInputError) throw ApiError.validation([{ field: error.field === 'pfx' ? 'pfxBase64' : error.field, messages: [error.message] }]);
      throw error;
    }
  }

  validate(dto: ValidateCertificateDto): BundleReport {
    return checkBundle(this.read(dto), { now: this.clock.now(), domain: dto.domain });
  }
}
