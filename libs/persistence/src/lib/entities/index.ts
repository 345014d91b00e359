import { ApiKeyEntity } from './api-key.entity';
import { AuditEventEntity } from './audit-event.entity';
import { CertificateAuthorityEntity } from './certificate-authority.entity';
import { CertificateEntity } from './certificate.entity';
import { CrlEntity } from './crl.entity';
import { EnrollmentPolicyEntity } from './enrollment-policy.entity';
import { IdempotencyRecordEntity } from './idempotency-record.entity';
import { OcspResponseEntity } from './ocsp-response.entity';
import { OrgEntity } from './org.entity';
import { ProfileEntity } from './profile.entity';
import { ApprovalEntity } from './approval.entity';

export * from './types';
export * from './org.entity';
export * from './api-key.entity';
export * from './certificate-authority.entity';
export * from './certificate.entity';
export * from './audit-event.entity';
export * from './idempotency-record.entity';
export * from './crl.entity';
export * from './ocsp-response.entity';
export * from './enrollment-policy.entity';
export * from './profile.entity';
export * from './approval.entity';

/** Listed explicitly: glob patterns break once the apps are bundled or moved. */
export const ENTITIES = [
  OrgEntity,
  ApiKeyEntity,
  CertificateAuthorityEntity,
  CertificateEntity,
  AuditEventEntity,
  IdempotencyRecordEntity,
  CrlEntity,
  OcspResponseEntity,
  EnrollmentPolicyEntity,
  ProfileEntity,
  ApprovalEntity,
];
