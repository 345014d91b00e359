/**
 * Request bodies of /api/v1/profiles (API.md section 5). Both take the policy fields of ProfilePolicyDto:
 * a create fills in the defaults of those it leaves out, a PATCH changes only those it names. Rules that
 * span fields or need the database (defaultValidityDays <= maxValidityDays, the EKU the usage label gets,
 * the CA) are the service's, checked on the merged profile.
 */
import { applyDecorators } from '@nestjs/common';
import { ApiHideProperty, ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { normalizeDnsName } from '@signet/pki';
import { KEY_ALGORITHM_NAMES } from '@signet/queue';
import { OptionalNotNull } from '@signet/service';
import {
  ArrayMaxSize, Equals, IsArray, IsBoolean, IsIn, IsInt, IsOptional, IsString, IsUUID, Length, Matches, Max, MaxLength, Min, ValidateBy,
} from 'class-validator';

export const PROFILE_SLUG = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
export const MAX_ALLOWED_DOMAINS = 100;
export const MAX_VALIDITY_DAYS = 397;
export const MAX_APPROVAL_TTL_HOURS = 8760;

/** One line of text: no control characters (NULs and unpaired surrogates the global pipe refuses already). */
const ONE_LINE = /^\P{Cc}*$/u;
/** Free text: as ONE_LINE, but tabs and line breaks are fine. */
const FREE_TEXT = /^(?:\P{Cc}|[\t\n\r])*$/u;

/** Why `entry` is not an allowedDomains entry (`example.com` or `*.example.com`), or null when it is one. */
export function allowedDomainFault(entry: unknown): string | null {
  if (typeof entry !== 'string') return `${JSON.stringify(entry)?.slice(0, 40) ?? 'undefined'} is not a string`;
  try {
    normalizeDnsName(entry);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

const IsAllowedDomains = () =>
  ValidateBy({
    name: 'isAllowedDomains',
    validator: {
      validate: (value: unknown) => Array.isArray(value) && value.every((entry) => allowedDomainFault(entry) === null),
      defaultMessage: (args) => {
        const faults = Array.isArray(args?.value) ? args.value.map(allowedDomainFault).filter((f): f is string => f !== null) : [];
        const shown = faults.slice(0, 5).join('; ') + (faults.length > 5 ? `; and ${faults.length - 5} more` : '');
        return `allowedDomains entries are DNS names (example.com) or a wildcard over one (*.svc.example.com): ${shown}`;
      },
    },
  });

const Name = () => applyDecorators(IsString(), Length(1, 200), Matches(ONE_LINE, { message: 'name must be one line of text' }));
const Slug = () => applyDecorators(IsString(), Matches(PROFILE_SLUG, { message: 'slug must be 1-63 lowercase letters, digits and inner hyphens' }));
const NAME_DOC = { maxLength: 200 };
const SLUG_DOC = { pattern: PROFILE_SLUG.source, description: 'unique among the live profiles of the org' };

/** The policy fields: optional in a create (absent: the default) and in a PATCH (absent: unchanged). */
abstract class ProfilePolicyDto {
  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 2000 })
  @IsOptional() @IsString() @MaxLength(2000) @Matches(FREE_TEXT, { message: 'description must be text without control characters' })
  description?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 64, description: 'a label the certificates issued under the profile carry' })
  @IsOptional() @IsString() @Length(1, 64) @Matches(ONE_LINE, { message: 'environment must be one line of text' })
  environment?: string | null;

  @ApiPropertyOptional({
    type: [String], maxItems: MAX_ALLOWED_DOMAINS, default: [],
    description: "`example.com` allows that name and every name under it; `*.svc.example.com` only names directly under it; empty: no rule beyond the CA's permittedDnsDomains. Stored lowercase.",
  })
  @OptionalNotNull() @IsArray() @ArrayMaxSize(MAX_ALLOWED_DOMAINS) @IsAllowedDomains()
  allowedDomains?: string[];

  @ApiPropertyOptional({ type: Boolean, default: true }) @OptionalNotNull() @IsBoolean() allowWildcards?: boolean;
  @ApiPropertyOptional({ type: Boolean, default: true }) @OptionalNotNull() @IsBoolean() allowIpSans?: boolean;

  @ApiPropertyOptional({ type: [String], enum: KEY_ALGORITHM_NAMES, default: [], description: 'empty: every algorithm' })
  @OptionalNotNull() @IsArray() @ArrayMaxSize(20) @IsIn(KEY_ALGORITHM_NAMES as unknown as string[], { each: true })
  allowedKeyAlgorithms?: string[];

  @ApiPropertyOptional({ type: Number, minimum: 1, maximum: MAX_VALIDITY_DAYS, default: 90, description: 'at most maxValidityDays' })
  @OptionalNotNull() @IsInt() @Min(1) @Max(MAX_VALIDITY_DAYS)
  defaultValidityDays?: number;

  @ApiPropertyOptional({ type: Number, minimum: 1, maximum: MAX_VALIDITY_DAYS, default: MAX_VALIDITY_DAYS })
  @OptionalNotNull() @IsInt() @Min(1) @Max(MAX_VALIDITY_DAYS)
  maxValidityDays?: number;

  @ApiPropertyOptional({ type: String, default: 'server', description: 'as for issuance: server, client, api-mtls, vpn, server-client, email, code-signing, or any other label (kept as given; its EKU is extendedKeyUsage, or serverAuth without one)' })
  @OptionalNotNull() @IsString() @Length(1, 64) @Matches(ONE_LINE, { message: 'usage must be one line of text' })
  usage?: string;

  @ApiPropertyOptional({ type: [String], nullable: true, description: 'names (serverAuth, clientAuth, ...) or dotted OIDs; null or empty: what usage stands for (serverAuth for a custom label)' })
  @IsOptional() @IsArray() @ArrayMaxSize(20) @IsString({ each: true }) @MaxLength(64, { each: true })
  extendedKeyUsage?: string[] | null;

  @ApiPropertyOptional({ type: Boolean, default: false, description: 'issuing under the profile waits for an approval (API.md section 6)' })
  @OptionalNotNull() @IsBoolean()
  requireApproval?: boolean;

  @ApiPropertyOptional({ type: Number, minimum: 1, maximum: MAX_APPROVAL_TTL_HOURS, default: 72 })
  @OptionalNotNull() @IsInt() @Min(1) @Max(MAX_APPROVAL_TTL_HOURS)
  approvalTtlHours?: number;

  @ApiPropertyOptional({ type: Boolean, default: true, description: "ACME newAccount on the profile's directory needs an external account binding key (POST /api/v1/acme/eab-keys)" })
  @OptionalNotNull() @IsBoolean()
  acmeEabRequired?: boolean;
}

export class CreateProfileDto extends ProfilePolicyDto {
  @ApiProperty(NAME_DOC) @Name() name: string;
  @ApiProperty(SLUG_DOC) @Slug() slug: string;
  @ApiProperty({ format: 'uuid', description: 'the CA that issues under the profile; a CA of this org, not revoked' }) @IsUUID() caId: string;
}

/** PATCH: any field but caId (a profile stays with its CA: make a new profile for another CA). */
export class UpdateProfileDto extends ProfilePolicyDto {
  @ApiPropertyOptional(NAME_DOC) @OptionalNotNull() @Name() name?: string;
  @ApiPropertyOptional(SLUG_DOC) @OptionalNotNull() @Slug() slug?: string;

  /** Declared only to be refused by name (rather than as an unknown property). */
  @ApiHideProperty() @OptionalNotNull() @Equals(undefined, { message: 'caId cannot be changed: a profile stays with its CA (create a new profile for another CA)' })
  caId?: never;
}

/** The fields a PATCH may change (all of UpdateProfileDto but caId). */
export type ProfileChanges = Omit<UpdateProfileDto, 'caId'>;
