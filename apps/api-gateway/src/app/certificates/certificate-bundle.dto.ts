import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsInt, IsString, Max, MaxLength, Min } from 'class-validator';
import { OptionalNotNull } from '@signet/service';
import { Type } from 'class-transformer';
import { ValidateNested } from 'class-validator';
import { RenewWithDto } from '../external-acme/external-acme.dto';

/** A certificate from elsewhere, as PEM or as a PKCS#12 file (API.md section 8). */
export class CertificateBundleDto {
  @ApiPropertyOptional({ description: 'the certificate (PEM); further certificates after it count as its chain' })
  @OptionalNotNull() @IsString() @MaxLength(64 * 1024)
  certificatePem?: string;

  @ApiPropertyOptional({ description: 'its chain (PEM), each issuer after what it signs' })
  @OptionalNotNull() @IsString() @MaxLength(256 * 1024)
  chainPem?: string;

  @ApiPropertyOptional({ description: 'its private key (PEM: PKCS#8, PKCS#1 or SEC1; unencrypted). Never stored by validate.' })
  @OptionalNotNull() @IsString() @MaxLength(16 * 1024)
  privateKeyPem?: string;

  @ApiPropertyOptional({ description: 'a PKCS#12 (PFX) file, base64: modern (AES) or legacy (3DES/RC2) as Windows and Java write' })
  @OptionalNotNull() @IsString() @MaxLength(350 * 1024)
  pfxBase64?: string;

  @ApiPropertyOptional({ description: "the PKCS#12 file's password" })
  @OptionalNotNull() @IsString() @MaxLength(1024)
  pfxPassword?: string;
}

export class ValidateCertificateDto extends CertificateBundleDto {
  @ApiPropertyOptional({ description: 'a DNS name or IP address the certificate must cover (RFC 6125 wildcards)' })
  @OptionalNotNull() @IsString() @MaxLength(253)
  domain?: string;
}

export class BundleFindingView {
  @ApiProperty({ description: 'machine code: expired, not_yet_valid, key_mismatch, chain_order, chain_broken, domain_not_covered (errors); expiring, weak_key, weak_signature, chain_missing, chain_incomplete (warnings)' }) code: string;
  @ApiProperty() message: string;
}

export class CertificateValidationView {
  @ApiProperty({ description: 'no errors' }) valid: boolean;
  @ApiProperty({ type: String, nullable: true }) commonName: string | null;
  @ApiProperty({ type: [String] }) sanDns: string[];
  @ApiProperty({ type: [String] }) sanIp: string[];
  @ApiProperty({ description: 'the issuer DN' }) issuer: string;
  @ApiProperty() serialNumber: string;
  @ApiProperty() fingerprintSha256: string;
  @ApiProperty({ description: 'RSA-<bits>, ECDSA-P256/P384/P521, Ed25519' }) keyAlgorithm: string;
  @ApiProperty({ format: 'date-time' }) validFrom: string;
  @ApiProperty({ format: 'date-time' }) validTo: string;
  @ApiProperty() daysRemaining: number;
  @ApiProperty({ type: Boolean, nullable: true, description: 'null: no key given' }) keyMatches: boolean | null;
  @ApiProperty({ description: 'the chain reaches a self-signed root' }) chainComplete: boolean;
  @ApiProperty({ type: Boolean, nullable: true, description: 'null: no domain asked about' }) coversDomain: boolean | null;
  @ApiProperty({ type: [BundleFindingView] }) errors: BundleFindingView[];
  @ApiProperty({ type: [BundleFindingView] }) warnings: BundleFindingView[];
}

export class ImportCertificateDto extends CertificateBundleDto {
  @ApiPropertyOptional({ type: String, maxLength: 2000 })
  @OptionalNotNull() @IsString() @MaxLength(2000)
  notes?: string;

  @ApiPropertyOptional({ type: Boolean, default: false, description: 'renewed automatically (by the sweep, within renewalThresholdDays) the way renewWith says; true without renewWith is refused (422, rule autoRenew)' })
  @OptionalNotNull() @IsBoolean()
  autoRenew?: boolean;

  @ApiPropertyOptional({ type: Number, minimum: 1, maximum: 397, default: 30, description: 'expiringSoon from this many days before validTo' })
  @OptionalNotNull() @IsInt() @Min(1) @Max(397)
  renewalThresholdDays?: number;

  @ApiPropertyOptional({ type: RenewWithDto, description: 'how it is renewed (POST .../renew, and the sweep with autoRenew), one of: {profileId}: issued anew by a Signet CA under that profile of the org (same subject and names, a new key kept encrypted; the profile must accept them, checked now: 422 otherwise; a profile with requireApproval is 422); {acmeAccountId, challengeType? (http-01), dnsProvider?}: obtained anew through that outside ACME account of the org' })
  @OptionalNotNull() @ValidateNested() @Type(() => RenewWithDto)
  renewWith?: RenewWithDto;
}
