import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors, BODY_ERRORS } from '../api-docs.decorator';
import { Access } from '../access/access.decorator';
import type { OrgPrincipal } from '../access/principal';
import { Audited } from '../audit/audited.decorator';
import { RateLimit } from '../rate-limit/rate-limit.decorator';
import { RESOURCE_ID } from '../resource-id.pipe';
import { ApprovalEnvelopeView, ApprovalPageView, ApproveDto, ApprovedView, ListApprovalsQueryDto, RejectDto } from './approval.dto';
import { ApprovalsService } from './approvals.service';
import { CurrentCaller, CurrentPrincipal, OrgCaller } from '../access/caller';

@ApiTags('approvals')
@ApiBearerAuth('apiKey')
@Controller('api/v1/approvals')
@Access('orgKey')
@ApiErrors(403)
export class ApprovalsController {
  constructor(private readonly approvals: ApprovalsService) {}

  @Get()
  @ApiOperation({ summary: "Requests for approval: those of CAs this key may read or approve on, and its own (default: pending)" })
  @ApiOkResponse({ type: ApprovalPageView })
  list(@CurrentPrincipal() principal: OrgPrincipal, @Query() q: ListApprovalsQueryDto) {
    return this.approvals.list(principal, q);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One request (its requester and approvers may read it)' })
  @ApiOkResponse({ type: ApprovalEnvelopeView })
  @ApiErrors(404)
  get(@CurrentPrincipal() principal: OrgPrincipal, @Param('id', RESOURCE_ID) id: string) {
    return this.approvals.get(principal, id);
  }

  @Post(':id/approve')
  @HttpCode(200)
  @RateLimit('issue')
  @Audited('approval.approved', 'approval')
  @ApiOperation({
    summary: 'Approve (approve permission on the CA; never the key that asked): the signer issues the certificate, exactly once',
    description: '409 conflict when the request was already decided (also by a racing approver) or has expired; a refusal of the profile at issuance rejects the request and answers that refusal.',
  })
  @ApiOkResponse({ type: ApprovedView })
  @ApiErrors(...BODY_ERRORS, 404, 409, 422, 503)
  approve(@CurrentCaller() caller: OrgCaller, @Param('id', RESOURCE_ID) id: string, @Body() dto: ApproveDto) {
    return this.approvals.approve(caller, id, dto);
  }

  @Post(':id/reject')
  @HttpCode(200)
  @Audited('approval.rejected', 'approval')
  @ApiOperation({ summary: 'Reject with a reason (approve permission on the CA; never the key that asked)' })
  @ApiOkResponse({ type: ApprovalEnvelopeView })
  @ApiErrors(...BODY_ERRORS, 404, 409)
  reject(@CurrentCaller() caller: OrgCaller, @Param('id', RESOURCE_ID) id: string, @Body() dto: RejectDto) {
    return this.approvals.reject(caller, id, dto);
  }
}
