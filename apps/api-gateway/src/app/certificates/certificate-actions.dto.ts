import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsBoolean, IsIn, IsInt, IsOptional, IsString, IsUUID, Length, Max, MaxLength, Min, ValidateNested } from 'class-validator';
import { NotAPrivateKey, OptionalNotNull } from '@signet/service';
import { RenewWithDto } from '../external-acme/external-acme.dto';
import { DeployTargetDto } from '../agents/agent.dto';

export class PatchCertificateDto {
  @ApiPropertyOptional({ type: Boolean }) @OptionalNotNull() @IsBoolean() autoRenew?: boolean;
  @ApiPropertyOptional({ type: Number, minimum: 1, maximum: 397 }) @OptionalNotNull() @IsInt() @Min(1) @Max(397) renewalThresholdDays?: number;
  @ApiPropertyOptional({ type: String, maxLength: 2000, nullable: true }) @IsOptional() @IsString() @MaxLength(2000) notes?: string;
  @ApiPropertyOptional({ type: RenewWithDto, description: 'a certificate from elsewhere: how it is renewed from now on, {profileId} (a Signet profile of the org issues its renewal) or {acmeAccountId, challengeType?, dnsProvider?} (an outside ACME account of the org); as on import' })
  @OptionalNotNull() @ValidateNested() @Type(() => RenewWithDto) renewWith?: RenewWithDto;

  @ApiPropertyOptional({ type: [DeployTargetDto], description: "where every renewal of it (by hand or by the sweep) is deployed: an agent of the org and one of its targets; replaces the certificate's targets ([] removes them)" })
  @OptionalNotNull() @IsArray() @ArrayMaxSize(50) @ValidateNested({ each: true }) @Type(() => DeployTargetDto)
  deployTargets?: DeployTargetDto[];
}

export class RevokeCertificateDto {
  @ApiPropertyOptional({
    type: String,
    default: 'unspecified',
    description: 'RFC 5280 reason: unspecified, keyCompromise, caCompromise, affiliationChanged, superseded, cessationOfOperation, certificateHold, privilegeWithdrawn (snake_case accepted)',
  })
  @IsOptional() @IsString() @MaxLength(64)
  reason?: string;

  @ApiPropertyOptional({ type: String, maxLength: 2000 }) @IsOptional() @IsString() @MaxLength(2000) comments?: string;

  @ApiPropertyOptional({ type: String, description: "the issuing CA's passphrase, when it has one (its OCSP response and CRL are signed at once)" })
  @IsOptional() @IsString() @Length(1, 1024)
  caPassphrase?: string;
}

export const DOWNLOAD_FORMATS = ['pem', 'der', 'chain', 'fullchain', 'key', 'csr', 'json', 'zip', 'p12'] as const;
export type DownloadFormat = (typeof DOWNLOAD_FORMATS)[number];

export class DownloadQueryDto {
  @ApiPropertyOptional({ type: String, enum: DOWNLOAD_FORMATS, default: 'pem' })
  @IsOptional() @IsIn(DOWNLOAD_FORMATS as unknown as string[])
  format: DownloadFormat = 'pem';

  @ApiPropertyOptional({ type: String, minLength: 1, maxLength: 1024, description: 'p12: the password of the PKCS#12 file (prefer POST .../download, which keeps it out of URLs and access logs)' })
  @IsOptional() @IsString() @Length(1, 1024)
  password?: string;

  @ApiPropertyOptional({ type: Boolean, default: false, description: 'p12: the legacy form (3DES key, SHA-1 MAC) for readers that know nothing newer (older Windows, macOS and Java); default AES-256 with a SHA-256 MAC' })
  @IsOptional() @Transform(({ value }) => (value === 'true' ? true : value === 'false' ? false : value)) @IsBoolean()
  legacy?: boolean;
}

/** The same as a body, so a p12 password never travels in a URL. */
export class DownloadBodyDto extends DownloadQueryDto {}

export class StatsQueryDto {
  @ApiPropertyOptional({ format: 'uuid' }) @IsOptional() @IsUUID() caId?: string;
}

export class RenewCertificateDto {
  @ApiPropertyOptional({ type: Number, minimum: 1, maximum: 397, description: "default: the old validity period (under a profile: the profile's default)" })
  @IsOptional() @IsInt() @Min(1) @Max(397)
  validityDays?: number;

  @ApiPropertyOptional({ type: String, description: 'csr mode: the new PKCS#10 PEM' }) @IsOptional() @IsString() @MaxLength(16384) @NotAPrivateKey() csrPem?: string;
  @ApiPropertyOptional({ type: Boolean, default: false, description: 'revoke the old certificate (reason superseded)' }) @IsOptional() @IsBoolean() revokeOld?: boolean;
  @ApiPropertyOptional({ type: String }) @IsOptional() @IsString() @Length(1, 1024) caPassphrase?: string;
}
