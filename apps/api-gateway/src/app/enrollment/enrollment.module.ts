import { Module } from '@nestjs/common';
import { EnrollmentPoliciesController } from './enrollment-policies.controller';
import { EnrollmentPoliciesService } from './enrollment-policies.service';

/** Enrollment policies (the enroll server on 8443 reads them). */
@Module({ controllers: [EnrollmentPoliciesController], providers: [EnrollmentPoliciesService] })
export class EnrollmentModule {}
