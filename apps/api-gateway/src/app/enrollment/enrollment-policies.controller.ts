import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { RESOURCE_ID } from '../resource-id.pipe';
import { ApiBearerAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors, BODY_ERRORS } from '../api-docs.decorator';
import { Access } from '../access/access.decorator';
import type { OrgPrincipal } from '../access/principal';
import { Audited } from '../audit/audited.decorator';
import { PageQueryDto } from '../paging';
import { CreateEnrollmentPolicyDto, EnrollmentPolicyEnvelopeView, EnrollmentPolicyPageView } from './enrollment-policy.dto';
import { EnrollmentPoliciesService } from './enrollment-policies.service';
import { CurrentCaller, CurrentPrincipal, OrgCaller } from '../access/caller';

@ApiTags('enrollment policies')
@ApiBearerAuth('apiKey')
@Controller('api/v1/enrollment-policies')
@Access('orgAdmin')
@ApiErrors(403)
export class EnrollmentPoliciesController {
  constructor(private readonly policies: EnrollmentPoliciesService) {}

  @Post()
  @Audited('enrollmentPolicy.create', 'enrollmentPolicy')
  @ApiOperation({ summary: 'Let holders of certificates from trustedCaIds enroll on 8443; issuingCaId issues' })
  @ApiCreatedResponse({ type: EnrollmentPolicyEnvelopeView })
  @ApiErrors(...BODY_ERRORS, 404)
  create(@CurrentCaller() caller: OrgCaller, @Body() dto: CreateEnrollmentPolicyDto) {
    return this.policies.create(caller, dto);
  }

  @Get()
  @ApiOperation({ summary: "The org's enrollment policies" })
  @ApiOkResponse({ type: EnrollmentPolicyPageView })
  list(@CurrentPrincipal() principal: OrgPrincipal, @Query() q: PageQueryDto) {
    return this.policies.list(principal, q);
  }

  @Delete(':id')
  @HttpCode(204)
  @Audited('enrollmentPolicy.delete', 'enrollmentPolicy')
  @ApiOperation({ summary: 'Delete a policy; the enroll servers drop its trust within seconds' })
  @ApiNoContentResponse({ description: 'deleted' })
  @ApiErrors(404)
  async remove(@CurrentCaller() caller: OrgCaller, @Param('id', RESOURCE_ID) id: string) {
    await this.policies.remove(caller, id);
  }
}
