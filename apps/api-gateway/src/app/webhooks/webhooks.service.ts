/**
 * Webhook endpoints of an org (API.md section 9): made, changed and removed by its admins, each write
 * committed with its audit event, every refusal before anything is written. The signing secret is
 * returned by the create alone and stored only encrypted (gateway-secrets.ts); audit events name the URL
 * and events, never the secret.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import {
  WebhookChanges, WebhookRow, deleteWebhook, insertWebhook, insertWebhookDeliveries, lockOrgWebhooks, updateWebhook, webhookDeliveriesPage,
  webhookDeliveryById, webhookInOrg, webhooksOfOrg,
} from '@signet/persistence';
import { ApiError } from '@signet/service';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import type { OrgCaller } from '../access/caller';
import type { OrgPrincipal } from '../access/principal';
import { AuditService } from '../audit/audit.service';
import { PageQueryDto, pageOf, skipOf } from '../paging';
import { WebhookDeliveries } from './webhook-deliveries.queue';
import { PING_EVENT } from './webhook-events';
import { GatewaySecretBox } from '../gateway-secrets';
import { newWebhookSecret } from './webhook-secrets';
import { CreateWebhookDto, ListDeliveriesDto, UpdateWebhookDto, deliveryView, webhookView } from './webhook.dto';

/** Webhooks one org may have: each is a fan-out of every event it names. */
export const MAX_WEBHOOKS_PER_ORG = 100;

@Injectable()
export class WebhooksService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly box: GatewaySecretBox,
    private readonly audit: AuditService,
    private readonly deliveries: WebhookDeliveries,
  ) {}

  async create(caller: OrgCaller, dto: CreateWebhookDto) {
    const orgId = caller.principal.orgId;
    const id = randomUUID();
    const secret = newWebhookSecret();
    const row = await this.dataSource.transaction(async (manager) => {
      if ((await lockOrgWebhooks(manager, orgId)) >= MAX_WEBHOOKS_PER_ORG) {
        throw new ApiError('conflict', `an org has at most ${MAX_WEBHOOKS_PER_ORG} webhooks: delete one first`);
      }
      const inserted = await insertWebhook(manager, {
        id, orgId, url: normalizedUrl(dto.url), events: [...new Set(dto.events)], description: dto.description ?? null, encryptedSecret: this.box.seal(secret, id),
      });
      await this.audit.record(caller, { eventType: 'webhook.create', resourceType: 'webhook', resourceId: id, details: { url: inserted.url, events: inserted.events } }, manager);
      return inserted;
    });
    return { webhook: webhookView(row), secret };
  }

  async list(principal: OrgPrincipal, q: PageQueryDto) {
    const { rows, total } = await webhooksOfOrg(this.dataSource.manager, principal.orgId, { offset: skipOf(q), limit: q.pageSize });
    return pageOf('webhooks', rows.map(webhookView), total, q);
  }

  async get(principal: OrgPrincipal, id: string) {
    return { webhook: webhookView(await this.found(principal, id)) };
  }

  async update(caller: OrgCaller, id: string, dto: UpdateWebhookDto) {
    const orgId = caller.principal.orgId;
    const row = await this.dataSource.transaction(async (manager) => {
      const current = await webhookInOrg(manager, id, orgId, true);
      if (!current) throw ApiError.notFound('webhook');
      const changes = changesOf(current, dto);
      if (!Object.keys(changes).length) return current;
      const updated = (await updateWebhook(manager, id, orgId, changes)) as WebhookRow;
      await this.audit.record(caller, { eventType: 'webhook.update', resourceType: 'webhook', resourceId: id, details: { changed: Object.keys(changes), url: updated.url } }, manager);
      return updated;
    });
    return { webhook: webhookView(row) };
  }

  async remove(caller: OrgCaller, id: string) {
    await this.dataSource.transaction(async (manager) => {
      const row = await webhookInOrg(manager, id, caller.principal.orgId, true);
      if (!row || !(await deleteWebhook(manager, id, caller.principal.orgId))) throw ApiError.notFound('webhook');
      await this.audit.record(caller, { eventType: 'webhook.delete', resourceType: 'webhook', resourceId: id, details: { url: row.url } }, manager);
    });
  }

  /** A `ping` delivery to the webhook (enabled or not), sent like any other: signed, retried, logged. */
  async test(caller: OrgCaller, id: string) {
    const deliveryId = randomUUID();
    await this.dataSource.transaction(async (manager) => {
      const row = await webhookInOrg(manager, id, caller.principal.orgId, true);
      if (!row) throw ApiError.notFound('webhook');
      await insertWebhookDeliveries(manager, [{
        id: deliveryId, webhookId: id, event: PING_EVENT, sourceKey: `ping:${deliveryId}`, createdAt: new Date(),
        payload: { webhookId: id, message: 'a test delivery from Signet' },
      }]);
      await this.audit.record(caller, { eventType: 'webhook.test', resourceType: 'webhook', resourceId: id, details: { deliveryId } }, manager);
    });
    await this.deliveries.enqueue([deliveryId]);
    const delivery = await webhookDeliveryById(this.dataSource.manager, deliveryId);
    if (!delivery) throw ApiError.notFound('webhook');
    return { delivery: deliveryView(delivery) };
  }

  async deliveriesOf(principal: OrgPrincipal, id: string, q: ListDeliveriesDto) {
    await this.found(principal, id);
    const { rows, total } = await webhookDeliveriesPage(this.dataSource.manager, id, q.status, { offset: skipOf(q), limit: q.pageSize });
    return pageOf('deliveries', rows.map(deliveryView), total, q);
  }

  private async found(principal: OrgPrincipal, id: string): Promise<WebhookRow> {
    const row = await webhookInOrg(this.dataSource.manager, id, principal.orgId);
    if (!row) throw ApiError.notFound('webhook');
    return row;
  }
}

/** The URL as deliveries will use it (the WHATWG parser's form: lowercase host, default port dropped). */
const normalizedUrl = (url: string) => new URL(url).href;

/** The fields `dto` sets to something other than what `current` holds, in the stored form. */
function changesOf(current: WebhookRow, dto: UpdateWebhookDto): WebhookChanges {
  const wanted: WebhookChanges = {
    url: dto.url === undefined ? undefined : normalizedUrl(dto.url),
    events: dto.events === undefined ? undefined : [...new Set(dto.events)],
    description: dto.description,
    enabled: dto.enabled,
  };
  return Object.fromEntries(
    Object.entries(wanted).filter(([key, value]) => value !== undefined && JSON.stringify(value) !== JSON.stringify(current[key as keyof WebhookChanges])),
  ) as WebhookChanges;
}
