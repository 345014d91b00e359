import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import { RESOURCE_ID } from '../resource-id.pipe';
import { ApiBearerAuth, ApiNoContentResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Access } from '../access/access.decorator';
import type { OrgPrincipal } from '../access/principal';
import { Audited } from '../audit/audited.decorator';
import { PageQueryDto } from '../paging';
import type { GatewayRequest } from '../request-context';
import { CreateEnrollmentPolicyDto } from './enrollment-policy.dto';
import { EnrollmentPoliciesService } from './enrollment-policies.service';

@ApiTags('enrollment policies')
@ApiBearerAuth('apiKey')
@Controller('api/v1/enrollment-policies')
@Access('orgAdmin')
export class EnrollmentPoliciesController {
  constructor(private readonly policies: EnrollmentPoliciesService) {}

  @Post()
  @Audited('enrollmentPolicy.create', 'enrollmentPolicy')
  @ApiOperation({ summary: 'Let holders of certificates from trustedCaIds enroll on 8443; issuingCaId issues' })
  create(@Req() req: GatewayRequest, @Body() dto: CreateEnrollmentPolicyDto) {
    return this.policies.create(req, dto);
  }

  @Get()
  @ApiOperation({ summary: "The org's enrollment policies" })
  list(@Req() req: GatewayRequest, @Query() q: PageQueryDto) {
    return this.policies.list(req.principal as OrgPrincipal, q);
  }

  @Delete(':id')
  @HttpCode(204)
  @Audited('enrollmentPolicy.delete', 'enrollmentPolicy')
  @ApiOperation({ summary: 'Delete a policy; the enroll servers drop its trust within seconds' })
  @ApiNoContentResponse()
  async remove(@Req() req: GatewayRequest, @Param('id', RESOURCE_ID) id: string) {
    await this.policies.remove(req, id);
  }
}
