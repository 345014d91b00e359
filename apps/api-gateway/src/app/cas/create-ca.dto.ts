import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize, IsArray, IsDefined, IsIn, IsInt, IsObject, IsOptional, IsString, IsUUID, Length, Matches, Max, MaxLength, Min, ValidateNested,
} from 'class-validator';
import { KEY_ALGORITHM_NAMES, MAX_CRL_SHARDS } from '@signet/queue';
import { OptionalNotNull } from '@signet/service';

const CRL_SHARDS_DESCRIPTION =
  'CRL shards the leaves are spread over by serial (RFC 5280 5.2.5 partitioned CRLs): above 1, each leaf\'s CRL distribution point is ' +
  '/pki/cas/:id/crl/:shard and a revocation re-signs only that shard; the full CRL stays at /pki/cas/:id/crl';

export class SubjectDto {
  @ApiProperty({ maxLength: 64 }) @IsString() @Length(1, 64) commonName: string;
  @ApiPropertyOptional({ maxLength: 64 }) @IsOptional() @IsString() @Length(1, 64) organization?: string;
  @ApiPropertyOptional({ maxLength: 64 }) @IsOptional() @IsString() @Length(1, 64) organizationalUnit?: string;
  @ApiPropertyOptional({ example: 'DE' }) @IsOptional() @Matches(/^[A-Z]{2}$/, { message: 'country must be a two-letter ISO 3166 code' }) country?: string;
  @ApiPropertyOptional({ maxLength: 128 }) @IsOptional() @IsString() @Length(1, 128) state?: string;
  @ApiPropertyOptional({ maxLength: 128 }) @IsOptional() @IsString() @Length(1, 128) locality?: string;
}

export class CreateCaDto {
  @ApiProperty({ maxLength: 200 }) @IsString() @Length(1, 200) name: string;

  @ApiProperty({ type: SubjectDto }) @IsDefined() @IsObject() @ValidateNested() @Type(() => SubjectDto) subject: SubjectDto;

  @ApiPropertyOptional({ type: String, enum: KEY_ALGORITHM_NAMES, default: 'ECDSA-P256' })
  @IsOptional()
  @IsIn(KEY_ALGORITHM_NAMES as unknown as string[])
  keyAlgorithm: (typeof KEY_ALGORITHM_NAMES)[number] = 'ECDSA-P256';

  @ApiPropertyOptional({ minimum: 1, maximum: 36500, description: "default 3650 for a root, 1825 for an intermediate (cut at the parent's validTo); a given value past the parent's validTo is 422" })
  @IsOptional() @IsInt() @Min(1) @Max(36500)
  validityDays?: number;

  @ApiPropertyOptional({ format: 'uuid', description: 'absent: a self-signed root' })
  @IsOptional() @IsUUID()
  parentCaId?: string;

  @ApiPropertyOptional({ minimum: 0, maximum: 32 }) @IsOptional() @IsInt() @Min(0) @Max(32) pathLength?: number;

  @ApiPropertyOptional({ type: [String], example: ['example.com'] })
  @IsOptional() @IsArray() @ArrayMaxSize(100) @IsString({ each: true }) @Length(1, 253, { each: true })
  permittedDnsDomains?: string[];

  @ApiPropertyOptional({ minLength: 12, description: 'protects the CA key; signing then needs caPassphrase' })
  @IsOptional() @IsString() @Length(12, 1024)
  passphrase?: string;

  @ApiPropertyOptional({ description: "the parent CA's passphrase, when it has one" })
  @IsOptional() @IsString() @Length(1, 1024)
  caPassphrase?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: MAX_CRL_SHARDS, default: 1, description: CRL_SHARDS_DESCRIPTION })
  @OptionalNotNull() @IsInt() @Min(1) @Max(MAX_CRL_SHARDS)
  crlShards?: number;
}

/** PATCH /cas/:id. */
export class UpdateCaDto {
  @ApiProperty({ minimum: 1, maximum: MAX_CRL_SHARDS, description: `${CRL_SHARDS_DESCRIPTION}. Certificates already issued keep the shard their CDP names, and it stays published.` })
  @IsInt() @Min(1) @Max(MAX_CRL_SHARDS)
  crlShards: number;

  @ApiPropertyOptional({ type: String, description: "this CA's passphrase, when it has one (new shards' first CRLs are signed before the answer)" })
  @IsOptional() @IsString() @Length(1, 1024)
  caPassphrase?: string;
}

export class RevokeCaDto {
  @ApiPropertyOptional({ type: String, default: 'unspecified', description: 'RFC 5280 reason (camelCase or snake_case)' })
  @IsOptional() @IsString() @MaxLength(64)
  reason?: string;

  @ApiPropertyOptional({ type: String, description: "the parent CA's passphrase, when it has one (it signs the revocation)" })
  @IsOptional() @IsString() @Length(1, 1024)
  caPassphrase?: string;
}

export class ImportCaDto {
  @ApiProperty({ maxLength: 200 }) @IsString() @Length(1, 200) name: string;

  @ApiProperty({ description: 'the CA certificate, PEM' })
  @IsString() @Length(1, 65536)
  certificatePem: string;

  @ApiProperty({ description: 'its private key, unencrypted PEM (PKCS#8, PKCS#1 or SEC1); sealed to the signer at once' })
  @IsString() @Length(1, 65536)
  privateKeyPem: string;

  @ApiPropertyOptional({ description: 'the certificates above it, issuer first, up to (optionally) the root' })
  @IsOptional() @IsString() @Length(0, 262144)
  chainPem?: string;

  @ApiPropertyOptional({ minLength: 12, description: 'protects the key at rest; signing then needs caPassphrase' })
  @IsOptional() @IsString() @Length(12, 1024)
  passphrase?: string;
}
