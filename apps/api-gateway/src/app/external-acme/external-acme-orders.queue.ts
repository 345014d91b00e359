/**
 * Orders at outside ACME CAs as jobs on their own BullMQ queue (libs/queue external-acme-jobs.ts),
 * worked by the gateways, never the signer: it holds keys and talks to no outside host. A job carries
 * the order's id only, so it survives a gateway's restart (BullMQ hands a stalled job to another
 * worker) and the order's state is in the database. One attempt, bounded by
 * EXTERNAL_ACME_ORDER_TIMEOUT_MS:
 *   newOrder -> each pending authorization's challenge put up (HTTP-01: the key authorization in Redis,
 *   served by every replica; DNS-01: the TXT record through the provider) -> the CA validates -> taken
 *   down -> finalize with a CSR for a key made for this order (libs/pki) -> download the chain.
 * The key is sealed to the signers (`key.wrap`) and the certificate stored like an import (source
 * `external-acme`, caId null, its issuer and chain) with how to renew it, the order `valid`, a renewed
 * certificate superseded, and the audit event (so webhooks), in one transaction. A dry run stores no
 * certificate. The CA's refusal settles the order `invalid` with the CA's problem; a network failure or
 * timeout is retried, and settles it at the last attempt.
 */
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import {
  ExternalAcmeAccountRow, ExternalAcmeOrderRow, certificatesById, claimForRenewal, dnsCredentialsById, externalAcmeAccountById, externalAcmeOrderById,
  insertAuditEvents, insertCertificates, isUniqueViolation, markRenewalAttempt, recordRenewalOutcome, setExternalAcmeRenewal, setExternalAcmeStagingAccountUrl,
  updateExternalAcmeOrder,
} from '@signet/persistence';
import { KeyAlgorithm, certificationRequest, checkBundle, exportPrivateKeyPem, generateKeyPair, readBundle, toPem } from '@signet/pki';
import { EXTERNAL_ACME_JOB, EXTERNAL_ACME_QUEUE, ExternalAcmeOrderJob, externalAcmeJobOptions, validateJob } from '@signet/queue';
import { Clock, SignerClient, closeRedis, createRedis } from '@signet/service';
import type { Authorization, Client, Order } from 'acme-client';
import { Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import type Redis from 'ioredis';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { certificateFromElsewhere, wrapPrivateKey } from '../certificates/from-elsewhere';
import { GATEWAY_CONFIG } from '../gateway-config.token';
import { GatewaySecretBox } from '../gateway-secrets';
import type { GatewayConfig } from '../gateway.config';
import { DnsProvider, DnsProviderError, dnsProvider, validateDnsProviderConfig } from './dns-providers';
import { execCommandsOf } from './external-acme.config';
import { Http01Challenges } from './http01-challenges';
import { OutsideAcmeError, accountKeyBinding, configureOutsideAcmeHttp, dnsCredentialsBinding, outsideAcmeClient, outsideAcmeErrorOf } from './outside-acme-client';

const ACTOR = { actorType: 'system' as const, actorId: null, actorName: 'external-acme' };

/** What one attempt put up, to take down whatever happens. */
type Cleanup = () => Promise<void>;

@Injectable()
export class ExternalAcmeOrders implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('ExternalAcme');
  private queue: Queue<ExternalAcmeOrderJob> | null = null;
  private worker: Worker<ExternalAcmeOrderJob> | null = null;
  private readonly connections: Redis[] = [];

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    private readonly box: GatewaySecretBox,
    private readonly clock: Clock,
    private readonly signer: SignerClient,
    private readonly http01: Http01Challenges,
  ) {}

  onApplicationBootstrap(): void {
    configureOutsideAcmeHttp(this.config);
    if (!this.config.EXTERNAL_ACME_WORKER) return;
    const connection = createRedis(this.config.REDIS_URL, 'signet-external-acme-worker');
    connection.options.maxRetriesPerRequest = null;
    this.connections.push(connection);
    this.worker = new Worker<ExternalAcmeOrderJob>(EXTERNAL_ACME_QUEUE, (job) => this.work(job), {
      connection, prefix: this.config.QUEUE_PREFIX, concurrency: this.config.EXTERNAL_ACME_CONCURRENCY,
      // An attempt may wait on the CA for minutes: the lock is renewed meanwhile, and a dead gateway's job is taken over.
      lockDuration: 60_000,
    });
    this.worker.on('error', (error) => this.logger.warn(`order worker: ${error.message}`));
  }

  async enqueue(orderId: string): Promise<void> {
    if (!this.queue) {
      const connection = createRedis(this.config.REDIS_URL, 'signet-external-acme');
      this.connections.push(connection);
      this.queue = new Queue<ExternalAcmeOrderJob>(EXTERNAL_ACME_QUEUE, { connection, prefix: this.config.QUEUE_PREFIX });
    }
    await this.queue.add(EXTERNAL_ACME_JOB, { orderId }, externalAcmeJobOptions(orderId));
  }

  private async work(job: Job<ExternalAcmeOrderJob>): Promise<string> {
    const checked = validateJob(ExternalAcmeOrderJob, job.data);
    if ('errors' in checked) throw new UnrecoverableError(`bad order job: ${checked.errors.join(', ')}`);
    const manager = this.dataSource.manager;
    const order = await externalAcmeOrderById(manager, checked.job.orderId);
    if (!order) throw new UnrecoverableError('the order is gone');
    if (order.status === 'valid' || order.status === 'invalid') return `settled already (${order.status})`;
    const account = await externalAcmeAccountById(manager, order.accountId);
    if (!account || account.status !== 'valid') {
      await this.settleInvalid(order, new OutsideAcmeError('the ACME account was deactivated before the order ran'));
      return 'invalid';
    }
    await updateExternalAcmeOrder(manager, order.id, { status: 'processing' });
    if (order.renewsCertificateId) await markRenewalAttempt(manager, order.renewsCertificateId, this.clock.now());
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    try {
      await this.withDeadline(this.attempt(order, account));
      return 'valid';
    } catch (error) {
      // The CA's and the DNS provider's words are the order's error; anything else (the database, a signer
      // not answering key.wrap) is Signet's own trouble: retried, logged here, and said plainly.
      if (!(error instanceof OutsideAcmeError)) this.logger.warn({ orderId: order.id, err: (error as Error).message }, 'outside ACME order attempt failed inside Signet');
      const failure = error instanceof OutsideAcmeError ? error : new OutsideAcmeError('Signet could not complete the order (an internal error; see the gateway log)', undefined, true);
      if (failure.transient && !lastAttempt) {
        // Back to pending between attempts: the order waits, it is not being worked.
        await updateExternalAcmeOrder(manager, order.id, { status: 'pending', error: failure.problem });
        throw new Error(failure.message);
      }
      await this.settleInvalid(order, failure);
      return 'invalid';
    }
  }

  private async withDeadline<T>(work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new OutsideAcmeError(`the order took longer than EXTERNAL_ACME_ORDER_TIMEOUT_MS (${this.config.EXTERNAL_ACME_ORDER_TIMEOUT_MS} ms)`, undefined, true)),
        this.config.EXTERNAL_ACME_ORDER_TIMEOUT_MS,
      );
    });
    try {
      return await Promise.race([work, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async attempt(order: ExternalAcmeOrderRow, account: ExternalAcmeAccountRow): Promise<void> {
    const client = await this.clientFor(order, account);
    const { privateKey, publicKey } = await generateKeyPair(order.keyAlgorithm as KeyAlgorithm);
    const commonName = order.domains.find((name) => name.length <= 64);
    const csrDer = await certificationRequest(privateKey, publicKey, { subject: commonName ? { commonName } : {}, sans: { dns: order.domains, ip: [], email: [], uri: [] } });

    let acmeOrder: Order;
    try {
      acmeOrder = await client.createOrder({ identifiers: order.domains.map((value) => ({ type: 'dns', value })) });
    } catch (error) {
      throw outsideAcmeErrorOf(error, 'the CA refused the order');
    }
    await updateExternalAcmeOrder(this.dataSource.manager, order.id, { status: 'processing', orderUrl: acmeOrder.url });
    const cleanups: Cleanup[] = [];
    try {
      const authorizations = await client.getAuthorizations(acmeOrder).catch((error: unknown) => {
        throw outsideAcmeErrorOf(error, 'the CA did not give the authorizations');
      });
      const provider = order.challengeType === 'dns-01' ? await this.dnsProviderFor(order) : null;
      const pending = authorizations.filter((authz) => authz.status === 'pending');
      const challenges = [];
      for (const authz of pending) challenges.push({ authz, challenge: await this.present(client, order, authz, provider, cleanups) });
      for (const { authz, challenge } of challenges) {
        try {
          await client.completeChallenge(challenge);
          await client.waitForValidStatus(challenge);
        } catch (error) {
          throw await this.challengeProblem(client, authz, error);
        }
      }
    } finally {
      for (const cleanup of cleanups.reverse()) {
        await cleanup().catch((error) => this.logger.warn({ orderId: order.id, err: (error as Error).message }, 'taking a challenge down failed'));
      }
    }
    let chainPem: string;
    try {
      const finalized = await client.finalizeOrder(acmeOrder, toPem('CERTIFICATE REQUEST', csrDer));
      chainPem = await client.getCertificate(finalized);
    } catch (error) {
      throw outsideAcmeErrorOf(error, 'the CA did not issue the certificate');
    }
    if (order.dryRun) {
      await updateExternalAcmeOrder(this.dataSource.manager, order.id, { status: 'valid', error: null });
      return;
    }
    await this.store(order, chainPem, exportPrivateKeyPem(privateKey));
  }

  /** The account's client at its directory, or at its staging directory for a dry run (registering the account there the first time). */
  private async clientFor(order: ExternalAcmeOrderRow, account: ExternalAcmeAccountRow): Promise<Client> {
    const accountKeyPem = this.box.open(account.encryptedAccountKey, accountKeyBinding(account.id));
    if (!order.dryRun || !account.stagingDirectoryUrl) return outsideAcmeClient({ directoryUrl: account.directoryUrl, accountKeyPem, accountUrl: account.accountUrl });
    if (account.stagingAccountUrl) return outsideAcmeClient({ directoryUrl: account.stagingDirectoryUrl, accountKeyPem, accountUrl: account.stagingAccountUrl });
    const client = outsideAcmeClient({ directoryUrl: account.stagingDirectoryUrl, accountKeyPem });
    try {
      await client.createAccount({ termsOfServiceAgreed: true, contact: [`mailto:${account.email}`] });
    } catch (error) {
      throw outsideAcmeErrorOf(error, `the staging directory ${account.stagingDirectoryUrl} refused the account`);
    }
    await setExternalAcmeStagingAccountUrl(this.dataSource.manager, account.id, client.getAccountUrl());
    return client;
  }

  /** The order's DNS provider, its stored credentials checked again (the operator's exec allow-list may have changed since). */
  private async dnsProviderFor(order: ExternalAcmeOrderRow): Promise<DnsProvider> {
    const credentials = order.dnsCredentialsId ? await dnsCredentialsById(this.dataSource.manager, order.dnsCredentialsId) : null;
    if (!credentials) throw new OutsideAcmeError('the order has no DNS provider credentials');
    const config = JSON.parse(this.box.open(credentials.encryptedConfig, dnsCredentialsBinding(credentials.id)));
    const checked = validateDnsProviderConfig(config, { execCommands: execCommandsOf(this.config) });
    if ('errors' in checked) throw new OutsideAcmeError(`the stored DNS provider is no longer accepted: ${checked.errors.map((e) => `${e.field} ${e.message}`).join('; ')}`);
    return dnsProvider(checked.config, { timeoutMs: Math.min(this.config.EXTERNAL_ACME_ORDER_TIMEOUT_MS, 120_000) });
  }

  /** Puts the authorization's challenge of the order's type up, noting how to take it down; returns the challenge. */
  private async present(client: Client, order: ExternalAcmeOrderRow, authz: Authorization, provider: DnsProvider | null, cleanups: Cleanup[]) {
    const challenge = authz.challenges.find((c) => c.type === order.challengeType);
    if (!challenge) throw new OutsideAcmeError(`the CA offers no ${order.challengeType} challenge for ${authz.identifier.value} (it offers ${authz.challenges.map((c) => c.type).join(', ')})`);
    const keyAuthorization = await client.getChallengeKeyAuthorization(challenge).catch((error: unknown) => {
      throw outsideAcmeErrorOf(error, `the ${order.challengeType} challenge of ${authz.identifier.value} cannot be answered`);
    });
    if (order.challengeType === 'http-01') {
      await this.http01.put(challenge.token, keyAuthorization);
      cleanups.push(() => this.http01.remove(challenge.token));
    } else {
      const fqdn = `_acme-challenge.${authz.identifier.value}`;
      try {
        await (provider as DnsProvider).present(fqdn, keyAuthorization);
      } catch (error) {
        throw new OutsideAcmeError(`the DNS provider did not put the TXT record up: ${(error as Error).message}`, undefined, !(error instanceof DnsProviderError));
      }
      cleanups.push(() => (provider as DnsProvider).cleanup(fqdn, keyAuthorization));
    }
    return challenge;
  }

  /** Why a challenge failed, in the CA's words: its problem on the challenge (RFC 8555 8), with the name it was for. */
  private async challengeProblem(client: Client, authz: Authorization, error: unknown): Promise<OutsideAcmeError> {
    try {
      const [fresh] = await client.getAuthorizations({ authorizations: [authz.url] } as unknown as Order);
      const failed = fresh?.challenges.find((c) => (c as { error?: unknown }).error) as { error?: Record<string, unknown> } | undefined;
      if (failed?.error) {
        const problem = { ...failed.error, identifier: authz.identifier.value };
        return new OutsideAcmeError(`${authz.identifier.value}: ${String(failed.error['detail'] ?? 'the challenge failed')}`, problem);
      }
    } catch {
      // the CA's words could not be fetched: say what acme-client saw
    }
    return outsideAcmeErrorOf(error, `${authz.identifier.value}: the challenge failed`);
  }

  /** The certificate into the inventory, with everything that goes with it, in one transaction. */
  private async store(order: ExternalAcmeOrderRow, chainPem: string, privateKeyPem: string): Promise<void> {
    const bundle = readBundle({ certificatePem: chainPem });
    const report = checkBundle({ ...bundle, privateKey: null }, { now: this.clock.now() });
    const encryptedKey = await wrapPrivateKey(this.signer, privateKeyPem);
    const id = randomUUID();
    const row = certificateFromElsewhere(bundle, report, {
      id, orgId: order.orgId, source: 'external-acme', encryptedKey, notes: null, autoRenew: order.autoRenew, renewalThresholdDays: order.renewalThresholdDays,
      renewedFromId: order.renewsCertificateId,
    });
    await this.dataSource.transaction(async (manager) => {
      const current = await externalAcmeOrderById(manager, order.id);
      if (current?.status === 'valid') return;
      if (order.renewsCertificateId) {
        const [old] = [...(await certificatesById(manager, [order.renewsCertificateId])).values()];
        if (old) row.notes = old.notes;
      }
      try {
        await insertCertificates(manager, [row]);
      } catch (error) {
        if (isUniqueViolation(error)) throw new OutsideAcmeError('the CA sent a certificate that is already in the inventory');
        throw error;
      }
      if (order.renewsCertificateId) {
        if (!(await claimForRenewal(manager, { renewedFromId: order.renewsCertificateId, orgId: order.orgId, renewalId: id }))) {
          throw new OutsideAcmeError('the certificate was renewed meanwhile by another order');
        }
        await recordRenewalOutcome(manager, order.renewsCertificateId, { renewed: true });
      }
      await setExternalAcmeRenewal(manager, id, { accountId: order.accountId, challengeType: order.challengeType, dnsCredentialsId: order.dnsCredentialsId });
      await updateExternalAcmeOrder(manager, order.id, { status: 'valid', certificateId: id, error: null });
      await insertAuditEvents(manager, [{
        orgId: order.orgId, eventType: order.renewsCertificateId ? 'certificate.renew' : 'certificate.issue', outcome: 'success', ...ACTOR,
        resourceType: 'certificate', resourceId: id,
        details: { source: 'external-acme', orderId: order.id, acmeAccountId: order.accountId, serialNumber: row.serialNumber, issuer: row.issuerDn, domains: order.domains, renewedFromId: order.renewsCertificateId },
      }]);
    });
  }

  /** The order ends invalid with the problem; a renewal's failure is recorded on the certificate and audited (so the certificate.renewal_failed webhook). */
  private async settleInvalid(order: ExternalAcmeOrderRow, failure: OutsideAcmeError): Promise<void> {
    this.logger.warn({ orderId: order.id, err: failure.message }, 'outside ACME order failed');
    await this.dataSource.transaction(async (manager) => {
      await updateExternalAcmeOrder(manager, order.id, { status: 'invalid', error: failure.problem });
      if (!order.renewsCertificateId) {
        await insertAuditEvents(manager, [{
          orgId: order.orgId, eventType: 'certificate.obtain', outcome: 'failed', ...ACTOR, resourceType: 'external_acme_order', resourceId: order.id,
          error: { code: 'acme_order_invalid', message: failure.message.slice(0, 1000) }, details: { domains: order.domains },
        }]);
        return;
      }
      await recordRenewalOutcome(manager, order.renewsCertificateId, {
        error: failure.message, nextAttemptAt: new Date(this.clock.now().getTime() + this.config.EXTERNAL_ACME_RENEWAL_RETRY_MS),
      });
      await insertAuditEvents(manager, [{
        orgId: order.orgId, eventType: 'certificate.renew', outcome: 'failed', ...ACTOR, resourceType: 'certificate', resourceId: order.renewsCertificateId,
        error: { code: 'acme_order_invalid', message: failure.message.slice(0, 1000) }, details: { source: 'external-acme', orderId: order.id },
      }]);
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled([this.worker?.close(), this.queue?.close()]);
    await Promise.all(this.connections.map(closeRedis));
  }
}
