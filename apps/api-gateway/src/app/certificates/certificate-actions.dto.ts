import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, IsUUID, Length, Max, MaxLength, Min } from 'class-validator';
import { NotAPrivateKey, OptionalNotNull } from '@signet/service';

export class PatchCertificateDto {
  @ApiPropertyOptional({ type: Boolean }) @OptionalNotNull() @IsBoolean() autoRenew?: boolean;
  @ApiPropertyOptional({ type: Number, minimum: 1, maximum: 397 }) @OptionalNotNull() @IsInt() @Min(1) @Max(397) renewalThresholdDays?: number;
  @ApiPropertyOptional({ type: String, maxLength: 2000, nullable: true }) @IsOptional() @IsString() @MaxLength(2000) notes?: string;
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

export class DownloadQueryDto {
  @ApiPropertyOptional({ type: String, enum: ['pem', 'der', 'chain', 'fullchain', 'key', 'csr', 'json', 'zip'], default: 'pem' })
  @IsOptional() @IsIn(['pem', 'der', 'chain', 'fullchain', 'key', 'csr', 'json', 'zip'])
  format: 'pem' | 'der' | 'chain' | 'fullchain' | 'key' | 'csr' | 'json' | 'zip' = 'pem';
}

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
