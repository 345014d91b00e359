import { Controller, Get, Query, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../api-docs.decorator';
import { InjectDataSource } from '@nestjs/typeorm';
import { AuditEventEntity } from '@signet/persistence';
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
    const query = this.dataSource.getRepository(AuditEventEntity).createQueryBuilder('e');
    if (orgId) query.andWhere('e.org_id = :orgId', { orgId });
    if (q.eventType) {
      // A trailing dot asks for the family: a prefix match on the text_pattern_ops index.
      if (q.eventType.endsWith('.')) query.andWhere('e.event_type LIKE :prefix', { prefix: `${escapeLike(q.eventType)}%` });
      else query.andWhere('e.event_type = :eventType', { eventType: q.eventType });
    }
    if (q.outcome) query.andWhere('e.outcome = :outcome', { outcome: q.outcome });
    if (q.resourceId) query.andWhere('e.resource_id = :resourceId', { resourceId: q.resourceId });
    if (q.days) query.andWhere(`e.at >= now() - make_interval(days => :days)`, { days: q.days });
    if (q.cursor) query.andWhere('e.seq < :cursor', { cursor: q.cursor });
    const rows = await query.orderBy('e.seq', 'DESC').limit(q.limit + 1).getMany();
    const page = rows.slice(0, q.limit);
    return {
      events: page.map(eventView),
      nextCursor: rows.length > q.limit ? String(page[page.length - 1].seq) : null,
    };
  }
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

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
