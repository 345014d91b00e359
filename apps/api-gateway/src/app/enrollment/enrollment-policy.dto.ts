import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsIn, IsInt, IsOptional, IsString, IsUUID, Length, Max, Min } from 'class-validator';
import { KEY_ALGORITHM_NAMES } from '@signet/queue';
import { OptionalNotNull } from '@signet/service';
import { PageView } from '../api-docs.decorator';

export const SUBJECT_RULES = ['match-client-cn', 'any'] as const;

export class CreateEnrollmentPolicyDto {
  @ApiProperty({ maxLength: 200 }) @IsString() @Length(1, 200) name: string;

  @ApiProperty({ type: [String], description: 'CAs whose (unexpired, unrevoked) certificates may enroll' })
  @IsArray() @ArrayMinSize(1) @ArrayMaxSize(50) @IsUUID('all', { each: true })
  trustedCaIds: string[];

  @ApiProperty({ format: 'uuid', description: 'the CA that issues the enrolled certificates' })
  @IsUUID()
  issuingCaId: string;

  @ApiPropertyOptional({ type: Number, minimum: 1, maximum: 397, default: 90 })
  @OptionalNotNull() @IsInt() @Min(1) @Max(397)
  validityDays = 90;

  @ApiPropertyOptional({ type: String, default: 'client', description: 'as for issuance: client, server, server-client, ...' })
  @OptionalNotNull() @IsString() @Length(1, 64)
  usage = 'client';

  @ApiPropertyOptional({ type: [String], enum: KEY_ALGORITHM_NAMES, description: 'empty or absent: every algorithm a CSR may use' })
  @OptionalNotNull() @IsArray() @ArrayMaxSize(6) @IsIn(KEY_ALGORITHM_NAMES as unknown as string[], { each: true })
  allowedKeyAlgorithms: string[] = [];

  @ApiProperty({ type: String, enum: SUBJECT_RULES, description: "match-client-cn: the CSR's CN must equal the client certificate's, and its other subject attributes and SANs must be the client certificate's (403 naming each field otherwise); any: the CSR's subject and SANs are taken" })
  @IsIn(SUBJECT_RULES as unknown as string[])
  subjectRule: (typeof SUBJECT_RULES)[number];

  @ApiPropertyOptional({ type: String, format: 'uuid', description: 'a live profile of the org whose caId is issuingCaId: enrollment issues under it' })
  @IsOptional() @IsUUID()
  profileId?: string;
}

/** A policy as policyView() answers it. */
export class EnrollmentPolicyView {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() name: string;
  @ApiProperty({ type: [String], format: 'uuid' }) trustedCaIds: string[];
  @ApiProperty({ format: 'uuid' }) issuingCaId: string;
  @ApiProperty() validityDays: number;
  @ApiProperty() usage: string;
  @ApiProperty({ type: [String], enum: KEY_ALGORITHM_NAMES, description: 'empty: every algorithm a CSR may use' }) allowedKeyAlgorithms: string[];
  @ApiProperty({ type: String, enum: SUBJECT_RULES }) subjectRule: string;
  @ApiProperty({ type: String, format: 'uuid', nullable: true, description: 'the profile enrollment issues under; null: none' }) profileId: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
}

/** `{policy}`: POST /enrollment-policies. */
export class EnrollmentPolicyEnvelopeView {
  @ApiProperty({ type: () => EnrollmentPolicyView }) policy: EnrollmentPolicyView;
}

export class EnrollmentPolicyPageView extends PageView {
  @ApiProperty({ type: () => [EnrollmentPolicyView] }) policies: EnrollmentPolicyView[];
}
