import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize, IsArray, IsBoolean, IsIn, IsInt, IsObject, IsOptional, IsString, IsUUID, Length, Matches, Max, MaxLength, Min, ValidateNested,
} from 'class-validator';
import { KEY_ALGORITHM_NAMES } from '@signet/queue';
import { NotAPrivateKey } from '@signet/service';

/** SAN lists are bounded: a request with thousands of names is refused before any work. */
const MAX_SANS = 100;

export class LeafSubjectDto {
  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 64) organization?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 64) organizationalUnit?: string;
  @ApiPropertyOptional() @IsOptional() @Matches(/^[A-Z]{2}$/, { message: 'country must be a two-letter ISO 3166 code' }) country?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 128) state?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 128) locality?: string;

  @ApiPropertyOptional({
    maxLength: 255, example: 'ops@example.com',
    description: "the subject's emailAddress attribute (PKCS#9, IA5String: printable ASCII); the certificate's `subject` shows it as `emailAddress`. Not a SAN: for S/MIME give sanEmail too",
  })
  @IsOptional() @IsString() @Length(3, 255) @Matches(/^[\x21-\x3f\x41-\x7e]+@[\x21-\x3f\x41-\x7e]+$/, { message: 'email must be one address of printable ASCII (local@domain)' })
  email?: string;
}

/** The subject as the signer's job carries it: `email` is the DN's emailAddress attribute. */
export function leafSubjectOf(subject: LeafSubjectDto): Record<string, string> {
  const { email, ...rest } = subject;
  const fields = Object.entries(rest).filter(([, value]) => value !== undefined);
  return Object.fromEntries(email === undefined ? fields : [...fields, ['emailAddress', email]]);
}

export class IssueCertificateDto {
  @ApiPropertyOptional({ format: 'uuid', description: "the issuing CA; may be left out with a profile (its CA; another caId is 400)" })
  @IsOptional() @IsUUID() caId?: string;

  @ApiPropertyOptional({ format: 'uuid', description: 'the profile to issue under (API.md section 5); without one, the CA\'s built-in default profile' })
  @IsOptional() @IsUUID() profileId?: string;

  @ApiPropertyOptional({ description: 'the profile by its slug (instead of profileId)' })
  @IsOptional() @IsString() @Length(1, 63) profile?: string;

  @ApiPropertyOptional({ type: String, enum: ['managed', 'csr'], default: 'managed' })
  @IsOptional() @IsIn(['managed', 'csr'])
  mode: 'managed' | 'csr' = 'managed';

  @ApiPropertyOptional({ maxLength: 64 }) @IsOptional() @IsString() @Length(1, 64) commonName?: string;

  @ApiPropertyOptional({ type: [String], maxItems: MAX_SANS })
  @IsOptional() @IsArray() @ArrayMaxSize(MAX_SANS) @IsString({ each: true }) @MaxLength(253, { each: true })
  sanDns?: string[];

  @ApiPropertyOptional({ type: [String], maxItems: MAX_SANS })
  @IsOptional() @IsArray() @ArrayMaxSize(MAX_SANS) @IsString({ each: true }) @MaxLength(45, { each: true })
  sanIp?: string[];

  @ApiPropertyOptional({ type: [String], maxItems: MAX_SANS })
  @IsOptional() @IsArray() @ArrayMaxSize(MAX_SANS) @IsString({ each: true }) @MaxLength(254, { each: true })
  sanEmail?: string[];

  @ApiPropertyOptional({ type: [String], maxItems: MAX_SANS })
  @IsOptional() @IsArray() @ArrayMaxSize(MAX_SANS) @IsString({ each: true }) @MaxLength(2048, { each: true })
  sanUri?: string[];

  @ApiPropertyOptional({ description: 'PKCS#10 PEM, csr mode; at most 16 KiB' })
  @IsOptional() @IsString() @MaxLength(16384) @NotAPrivateKey()
  csrPem?: string;

  @ApiPropertyOptional({ type: String, enum: KEY_ALGORITHM_NAMES, default: 'ECDSA-P256', description: "managed mode; default ECDSA-P256, or the profile's first allowed algorithm" })
  @IsOptional() @IsIn(KEY_ALGORITHM_NAMES as unknown as string[])
  keyAlgorithm?: (typeof KEY_ALGORITHM_NAMES)[number];

  @ApiPropertyOptional({ type: Number, minimum: 1, maximum: 397, default: 90, description: "default: the profile's defaultValidityDays (90 without a profile); at most its maxValidityDays" })
  @IsOptional() @IsInt() @Min(1) @Max(397)
  validityDays?: number;

  @ApiPropertyOptional({ type: String, default: 'server', description: "server, client, api-mtls, vpn, server-client, email, code-signing, or any other label of yours: kept as given, its EKU extendedKeyUsage, or serverAuth (as `server`) without one; under a profile, the profile's (another is 422, rule usage)" })
  @IsOptional() @IsString() @Length(1, 64)
  usage?: string;

  @ApiPropertyOptional({ type: [String], description: 'names (serverAuth, clientAuth, ...) or dotted OIDs; default: what usage stands for (serverAuth for a custom label)' })
  @IsOptional() @IsArray() @ArrayMaxSize(20) @IsString({ each: true })
  extendedKeyUsage?: string[];

  @ApiPropertyOptional({ type: LeafSubjectDto }) @IsOptional() @IsObject() @ValidateNested() @Type(() => LeafSubjectDto) subject?: LeafSubjectDto;
  @ApiPropertyOptional({ maxLength: 2000 }) @IsOptional() @IsString() @MaxLength(2000) notes?: string;
  @ApiPropertyOptional({ type: Boolean, default: false }) @IsOptional() @IsBoolean() autoRenew = false;
  @ApiPropertyOptional({ type: Number, default: 30 }) @IsOptional() @IsInt() @Min(1) @Max(397) renewalThresholdDays = 30;
  @ApiPropertyOptional({ type: Boolean, default: false, description: 'keep the managed key, encrypted, for later download' }) @IsOptional() @IsBoolean() storeKey = false;
  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 1024) caPassphrase?: string;
}
