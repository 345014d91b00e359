/**
 * One ACME directory per profile: `/acme/<orgSlug>/<profileSlug>/...` (API.md section 7). An
 * AcmeDirectory is that directory as one request sees it: the org, the live profile, and the URL base
 * every resource URL of the answer is built on (the scheme and host the request came in on, or
 * PUBLIC_BASE_URL when it came through a trusted proxy).
 */
import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { OrgEntity, ProfileEntity, findLiveProfile, orgBySlug } from '@signet/persistence';
import type { FastifyRequest as Request } from 'fastify';
import type { TLSSocket } from 'node:tls';
import { DataSource } from 'typeorm';
import { GATEWAY_CONFIG } from '../gateway-config.token';
import type { GatewayConfig } from '../gateway.config';
import { AcmeProblem } from './acme-problem';

const HOST_HEADER = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SLUG = /^[a-z0-9][a-z0-9-]{0,62}$/;

export class AcmeDirectory {
  constructor(
    readonly org: OrgEntity,
    readonly profile: ProfileEntity,
    /** e.g. https://ca.example:3443/acme/acme-corp/web */
    readonly base: string,
  ) {}

  url(path: string): string {
    return `${this.base}/${path}`;
  }

  accountUrl = (id: string) => this.url(`account/${id}`);
  ordersUrl = (accountId: string) => this.url(`account/${accountId}/orders`);
  orderUrl = (id: string) => this.url(`order/${id}`);
  finalizeUrl = (id: string) => this.url(`order/${id}/finalize`);
  authorizationUrl = (id: string) => this.url(`authz/${id}`);
  challengeUrl = (id: string) => this.url(`chall/${id}`);
  certificateUrl = (id: string) => this.url(`cert/${id}`);

  /** The account id in a `kid`, when it is an account URL of this directory. */
  accountIdOf(kid: string): string | null {
    const prefix = this.url('account/');
    const id = kid.startsWith(prefix) ? kid.slice(prefix.length) : '';
    return UUID.test(id) ? id : null;
  }
}

@Injectable()
export class AcmeDirectories {
  private readonly proxiedBase: string;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(GATEWAY_CONFIG) config: GatewayConfig,
  ) {
    this.proxiedBase = config.PUBLIC_BASE_URL.replace(/\/+$/, '');
  }

  /** The directory a request names; `malformed` 404 when the org or the live profile does not exist. */
  async resolve(req: Request, orgSlug: string, profileSlug: string): Promise<AcmeDirectory> {
    const notFound = () => new AcmeProblem('malformed', `no ACME directory at /acme/${orgSlug.slice(0, 64)}/${profileSlug.slice(0, 64)}`, { status: 404 });
    if (!SLUG.test(orgSlug) || !SLUG.test(profileSlug)) throw notFound();
    const org = await orgBySlug(this.dataSource.manager, orgSlug);
    const profile = org ? await findLiveProfile(this.dataSource.manager, org.id, profileSlug) : null;
    if (!org || !profile || profile.slug !== profileSlug) throw notFound();
    return new AcmeDirectory(org, profile, `${this.origin(req)}/acme/${orgSlug}/${profileSlug}`);
  }

  /** The URL of this request as its client wrote it (what a JWS "url" must say). */
  requestUrl(req: Request): string {
    return `${this.origin(req)}${req.originalUrl}`;
  }

  private origin(req: Request): string {
    // Fastify's req.ips is the peer and then each X-Forwarded-For hop a proxy in TRUST_PROXY vouches for.
    if ((req.ips?.length ?? 0) > 1) return this.proxiedBase;
    const host = req.headers.host ?? '';
    if (!HOST_HEADER.test(host)) throw new AcmeProblem('malformed', 'the request needs a valid Host header');
    return `${(req.socket as TLSSocket).encrypted ? 'https' : 'http'}://${host.toLowerCase()}`;
  }
}
