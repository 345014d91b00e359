import { Controller, Get, Query, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../api-docs.decorator';
import { InjectDataSource } from '@nestjs/typeorm';
import { AuditEventEntity, auditEventsPage } from '@signet/persistence';
import { ApiError } from '@signet/service';
import { DataSource } from 'typeorm';
import { Access } from '../access/access.decorator';
import type { GatewayRequest } from '../request-context';
import { AuditEventView, AuditPageView, AuditQueryDto } from './audit-query.dto';

@ApiTags('audit')
@ApiBearerAuth('apiKey')
@Controller('api/v1/audit')
@Access('admin')
@ApiErrors(403)
export class AuditController {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  @Get()
  @ApiOperation({ summary: 'Audit events, newest first (org admin: own org; platform admin: all, or orgId=)' })
  @ApiOkResponse({ type: AuditPageView })
  @ApiErrors(404)
  async list(@Req() req: GatewayRequest, @Query() q: AuditQueryDto): Promise<AuditPageView> {
    const principal = req.principal!;
    let orgId = q.orgId;
    if (principal.type === 'org') {
      if (orgId && orgId !== principal.orgId) throw ApiError.notFound('org');
      orgId = principal.orgId;
    }
    // A trailing dot asks for the family (a prefix match).
    const family = q.eventType?.endsWith('.');
    const { events, nextCursor } = await auditEventsPage(
      this.dataSource.manager,
      {
        orgId, eventType: family ? undefined : q.eventType, eventTypePrefix: family ? q.eventType : undefined,
        outcome: q.outcome, resourceId: q.resourceId, days: q.days,
      },
      { limit: q.limit, cursor: q.cursor },
    );
    return { events: events.map(eventView), nextCursor };
  }
}

const eventView = (e: AuditEventEntity): AuditEventView => ({
  id: e.id,
  at: e.at.toISOString(),
  orgId: e.orgId,
  eventType: e.eventType,
  outcome: e.outcome,
  actor: { type: e.actorType, id: e.actorId, name: e.actorName },
  ip: e.ip,
  resourceType: e.resourceType,
  resourceId: e.resourceId,
  details: e.details,
  error: e.error,
  durationMs: e.durationMs,
});
