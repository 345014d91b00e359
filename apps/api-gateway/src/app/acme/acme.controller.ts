/**
 * The ACME server's resources (RFC 8555 7.1, RFC 9773), one directory per profile:
 * `/acme/<orgSlug>/<profileSlug>/directory`. Every POST is a JWS (acme-jws.ts); every answer carries
 * a fresh Replay-Nonce and the directory's Link; every failure is a problem document
 * (acme-exception.filter.ts). Public: an ACME client authenticates by its account key, not an API key.
 */
import { Controller, Get, Head, HttpCode, Param, Post, Req, Res, UseFilters } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Clock, Public } from '@signet/service';
import type { Response } from 'express';
import { Request, clientIp } from '../request-context';
import { AcmeAccountsService, accountView } from './acme-accounts.service';
import { AcmeDirectories, AcmeDirectory } from './acme-directory';
import { AcmeExceptionFilter } from './acme-exception.filter';
import { AcmeJwsVerifier, VerifiedJws } from './acme-jws';
import { AcmeOrdersService, NewOrderPayload, authorizationView, challengeView, orderView } from './acme-orders.service';
import { AcmeProblem } from './acme-problem';
import { RENEWAL_INFO_RETRY_AFTER_SECONDS } from './acme-renewal-info';
import { AcmeRenewalInfo } from './acme-renewal-info';
import { AcmeRevocationService } from './acme-revocation.service';
import { NonceStore } from './nonces';

const JOSE_JSON = 'application/jose+json';

@Public()
@ApiExcludeController()
@UseFilters(AcmeExceptionFilter)
@Controller('acme/:org/:profile')
export class AcmeController {
  constructor(
    private readonly directories: AcmeDirectories,
    private readonly jws: AcmeJwsVerifier,
    private readonly nonces: NonceStore,
    private readonly accounts: AcmeAccountsService,
    private readonly orders: AcmeOrdersService,
    private readonly revocation: AcmeRevocationService,
    private readonly renewalInfo: AcmeRenewalInfo,
    private readonly clock: Clock,
  ) {}

  @Get('directory')
  async directory(@Req() req: Request, @Res() res: Response, @Param('org') org: string, @Param('profile') profile: string) {
    const dir = await this.directories.resolve(req, org, profile);
    res.setHeader('Cache-Control', 'public, max-age=60');
    res.status(200).json({
      newNonce: dir.url('new-nonce'),
      newAccount: dir.url('new-account'),
      newOrder: dir.url('new-order'),
      revokeCert: dir.url('revoke-cert'),
      keyChange: dir.url('key-change'),
      renewalInfo: dir.url('renewal-info'),
      meta: {
        externalAccountRequired: dir.profile.acmeEabRequired,
        website: `${dir.base.replace(/\/acme\/.*$/, '')}/console`,
        profiles: { [dir.profile.slug]: dir.profile.description ?? dir.profile.name },
      },
    });
  }

  /** newNonce: HEAD 200, GET 204 (RFC 8555 7.2), never cached. */
  @Head('new-nonce')
  async newNonceHead(@Req() req: Request, @Res() res: Response, @Param('org') org: string, @Param('profile') profile: string) {
    await this.answer(res, await this.directories.resolve(req, org, profile), 200);
  }

  @Get('new-nonce')
  async newNonce(@Req() req: Request, @Res() res: Response, @Param('org') org: string, @Param('profile') profile: string) {
    await this.answer(res, await this.directories.resolve(req, org, profile), 204);
  }

  @Post('new-account')
  async newAccount(@Req() req: Request, @Res() res: Response, @Param('org') org: string, @Param('profile') profile: string) {
    const { dir, request, url } = await this.verified<Record<string, unknown>>(req, org, profile, 'jwk');
    const { account, created } = await this.accounts.newAccount(dir, request, url, clientIp(req) ?? 'unknown');
    await this.answer(res, dir, created ? 201 : 200, accountView(dir, account), { Location: dir.accountUrl(account.id) });
  }

  @Post('account/:id')
  async account(@Req() req: Request, @Res() res: Response, @Param('org') org: string, @Param('profile') profile: string, @Param('id') id: string) {
    const { dir, request } = await this.verified<{ contact?: unknown; status?: unknown }>(req, org, profile, 'kid');
    const account = await this.accounts.update(request, id, clientIp(req) ?? 'unknown');
    await this.answer(res, dir, 200, accountView(dir, account), { Location: dir.accountUrl(account.id) });
  }

  @Post('account/:id/orders')
  async accountOrders(@Req() req: Request, @Res() res: Response, @Param('org') org: string, @Param('profile') profile: string, @Param('id') id: string) {
    const { dir, request } = await this.verified(req, org, profile, 'kid');
    if (request.account!.id !== id) throw new AcmeProblem('unauthorized', 'an account may only list its own orders');
    const page = Math.max(1, Math.min(10_000, Number((req.query as { page?: string }).page) || 1));
    const { ids, more } = await this.orders.orders(request.account!, page);
    const headers: Record<string, string> = more ? { Link: `<${dir.ordersUrl(id)}?page=${page + 1}>;rel="next"` } : {};
    await this.answer(res, dir, 200, { orders: ids.map(dir.orderUrl) }, headers);
  }

  @Post('key-change')
  async keyChange(@Req() req: Request, @Res() res: Response, @Param('org') org: string, @Param('profile') profile: string) {
    const { dir, request, url } = await this.verified(req, org, profile, 'kid');
    const account = await this.accounts.keyChange(dir, request, url, clientIp(req) ?? 'unknown');
    await this.answer(res, dir, 200, accountView(dir, account), { Location: dir.accountUrl(account.id) });
  }

  @Post('new-order')
  async newOrder(@Req() req: Request, @Res() res: Response, @Param('org') org: string, @Param('profile') profile: string) {
    const { dir, request } = await this.verified<NewOrderPayload>(req, org, profile, 'kid');
    const order = await this.orders.newOrder(dir, request, clientIp(req) ?? 'unknown');
    await this.answer(res, dir, 201, orderView(dir, order, this.clock.now()), { Location: dir.orderUrl(order.id) });
  }

  @Post('order/:id')
  async order(@Req() req: Request, @Res() res: Response, @Param('org') org: string, @Param('profile') profile: string, @Param('id') id: string) {
    const { dir, request } = await this.verified(req, org, profile, 'kid');
    const order = await this.orders.order(dir, request.account!, id);
    await this.answer(res, dir, 200, orderView(dir, order, this.clock.now()), { Location: dir.orderUrl(order.id), ...this.retryAfter(order.status) });
  }

  @Post('order/:id/finalize')
  async finalize(@Req() req: Request, @Res() res: Response, @Param('org') org: string, @Param('profile') profile: string, @Param('id') id: string) {
    const { dir, request } = await this.verified<{ csr?: unknown }>(req, org, profile, 'kid');
    const order = await this.orders.finalize(dir, request, id, clientIp(req) ?? 'unknown');
    await this.answer(res, dir, 200, orderView(dir, order, this.clock.now()), { Location: dir.orderUrl(order.id) });
  }

  @Post('authz/:id')
  async authorization(@Req() req: Request, @Res() res: Response, @Param('org') org: string, @Param('profile') profile: string, @Param('id') id: string) {
    const { dir, request } = await this.verified<{ status?: unknown }>(req, org, profile, 'kid');
    const payload = request.payload;
    if (payload !== undefined && (typeof payload !== 'object' || payload === null || (payload.status !== undefined && payload.status !== 'deactivated'))) {
      throw new AcmeProblem('malformed', 'an authorization may only be deactivated: {"status": "deactivated"}');
    }
    const authz = await this.orders.authorization(request.account!, id, payload?.status === 'deactivated');
    const view = authorizationView(dir, authz, this.clock.now());
    await this.answer(res, dir, 200, view, this.retryAfter(view.status));
  }

  @Post('chall/:id')
  async challenge(@Req() req: Request, @Res() res: Response, @Param('org') org: string, @Param('profile') profile: string, @Param('id') id: string) {
    const { dir, request } = await this.verified<Record<string, unknown>>(req, org, profile, 'kid');
    if (request.payload !== undefined && (typeof request.payload !== 'object' || request.payload === null || Array.isArray(request.payload))) {
      throw new AcmeProblem('malformed', 'a challenge response is the empty object {}');
    }
    const { challenge, authorizationId } = await this.orders.challenge(request.account!, id, request.payload !== undefined);
    await this.answer(res, dir, 200, challengeView(dir, challenge), { Link: `<${dir.authorizationUrl(authorizationId)}>;rel="up"`, ...this.retryAfter(challenge.status) });
  }

  @Post('cert/:id')
  async certificate(@Req() req: Request, @Res() res: Response, @Param('org') org: string, @Param('profile') profile: string, @Param('id') id: string) {
    const { dir, request } = await this.verified(req, org, profile, 'kid');
    if (request.payload !== undefined) throw new AcmeProblem('malformed', 'the certificate is fetched with POST-as-GET (an empty payload)');
    const chain = await this.orders.certificateChain(dir, request.account!, id);
    res.setHeader('Content-Type', 'application/pem-certificate-chain');
    await this.answer(res, dir, 200, chain);
  }

  @Post('revoke-cert')
  async revokeCert(@Req() req: Request, @Res() res: Response, @Param('org') org: string, @Param('profile') profile: string) {
    const { dir, request } = await this.verified<{ certificate?: unknown; reason?: unknown }>(req, org, profile, 'either');
    await this.revocation.revoke(dir, request, clientIp(req) ?? 'unknown');
    await this.answer(res, dir, 200);
  }

  /** RFC 9773: GET, unauthenticated, cacheable. */
  @Get('renewal-info/:certId')
  @HttpCode(200)
  async renewal(@Req() req: Request, @Res() res: Response, @Param('org') org: string, @Param('profile') profile: string, @Param('certId') certId: string) {
    const dir = await this.directories.resolve(req, org, profile);
    const window = await this.renewalInfo.window(dir, certId);
    res.setHeader('Retry-After', String(RENEWAL_INFO_RETRY_AFTER_SECONDS));
    res.setHeader('Link', `<${dir.url('directory')}>;rel="index"`);
    res.status(200).json({ suggestedWindow: { start: window.start.toISOString(), end: window.end.toISOString() } });
  }

  private async verified<P = unknown>(req: Request, org: string, profile: string, keyFrom: 'jwk' | 'kid' | 'either') {
    const dir = await this.directories.resolve(req, org, profile);
    const media = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (media !== JOSE_JSON) throw new AcmeProblem('malformed', `ACME requests are ${JOSE_JSON}`, { status: 415 });
    const url = this.directories.requestUrl(req);
    const request: VerifiedJws<P> = await this.jws.verify<P>(req.body, url, dir, keyFrom);
    return { dir, request, url };
  }

  /** A processing resource tells the client when to look again. */
  private retryAfter(status: string): Record<string, string> {
    return status === 'processing' || status === 'pending' ? { 'Retry-After': '1' } : {};
  }

  private async answer(res: Response, dir: AcmeDirectory, status: number, body?: unknown, headers: Record<string, string> = {}) {
    res.setHeader('Replay-Nonce', await this.nonces.issue());
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Link', [`<${dir.url('directory')}>;rel="index"`, ...(headers.Link ? [headers.Link] : [])]);
    for (const [name, value] of Object.entries(headers)) if (name !== 'Link') res.setHeader(name, value);
    // Content-Length 0 (HEAD newNonce too): without it a client cannot keep the connection for its next request.
    if (body === undefined) return void res.status(status).setHeader('Content-Length', '0').end();
    if (typeof body === 'string') return void res.status(status).send(body);
    res.status(status).json(body);
  }
}
