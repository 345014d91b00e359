/**
 * Reading CAs. A member key sees only the CAs it may read: lists are filtered, a direct get of any
 * other CA is 404, exactly like a CA of another org.
 */
import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { CertificateAuthorityEntity, caInOrg, casOfOrg, revokedSerialsOnCrl } from '@signet/persistence';
import { formatName, parseCertificate, toPem } from '@signet/pki';
import { ApiError, SignerClient } from '@signet/service';
import { normalizeDnsName, isPkiError, parseRevocationReason } from '@signet/pki';
import { CreateCaJob, ImportCaJob, ImportCaSecret, RevokeCaJob, SIGNER_JOBS, SetCrlShardsJob, seal } from '@signet/queue';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { CreateCaDto, ImportCaDto, RevokeCaDto, UpdateCaDto } from './create-ca.dto';
import { OrgPrincipal, readableCaIds } from '../access/principal';
import { GATEWAY_CONFIG } from '../gateway-config.token';
import type { GatewayConfig } from '../gateway.config';
import { CrlInfoView, caView } from './ca.view';
import { ListCasQueryDto } from './cas.dto';
import { CrlInfo, PkiStore, StoredCrl } from '../pki/pki-store';
import type { OrgCaller } from '../access/caller';

/** Deeper than any sane hierarchy; stops a corrupt parent loop from spinning. */
const MAX_CHAIN = 16;

@Injectable()
export class CasService {
  /** CA id -> org id, and CA id -> chain PEMs: both immutable for a CA's whole life. */
  private readonly orgOf = new Map<string, string>();
  private readonly chains = new Map<string, string[]>();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    private readonly signer: SignerClient,
    private readonly pki: PkiStore,
  ) {}

  /** Validated here, made by the signer (the only holder of CA keys), answered when it is stored. */
  async create(caller: OrgCaller, dto: CreateCaDto) {
    const principal = caller.principal;
    let permittedDnsDomains: string[] | undefined;
    try {
      permittedDnsDomains = dto.permittedDnsDomains?.map(normalizeDnsName);
    } catch (error) {
      if (isPkiError(error)) throw ApiError.validation([{ field: 'permittedDnsDomains', messages: [error.message] }]);
      throw error;
    }
    if (dto.parentCaId) await this.readable(principal, dto.parentCaId);
    const caId = randomUUID();
    const job: CreateCaJob = {
      caId,
      orgId: principal.orgId,
      name: dto.name,
      subject: { ...dto.subject },
      keyAlgorithm: dto.keyAlgorithm,
      // Absent: the signer's default, which for an intermediate ends no later than its parent.
      validityDays: dto.validityDays,
      parentCaId: dto.parentCaId,
      pathLength: dto.pathLength,
      permittedDnsDomains,
      sealedPassphrase: await this.signer.sealPassphrase(dto.passphrase, caId),
      sealedParentPassphrase: dto.parentCaId ? await this.signer.sealPassphrase(dto.caPassphrase, dto.parentCaId) : undefined,
      crlShards: dto.crlShards,
      actor: { type: 'apiKey', id: principal.apiKeyId, name: principal.name, ip: caller.ip },
    };
    await this.signer.run(SIGNER_JOBS.createCa, job, `ca-create-${caId}`);
    return this.get(principal, caId);
  }

  /**
   * Bring an externally signed CA. The key is sealed to the signers' transport key before it goes on
   * the queue; the signer checks certificate, key and chain and stores the key encrypted like its own.
   */
  async import(caller: OrgCaller, dto: ImportCaDto) {
    const principal = caller.principal;
    const transportKey = await this.signer.transportKey();
    const caId = randomUUID();
    const secret: ImportCaSecret = { privateKeyPem: dto.privateKeyPem, passphrase: dto.passphrase };
    const job: ImportCaJob = {
      caId,
      orgId: principal.orgId,
      name: dto.name,
      certificatePem: dto.certificatePem,
      chainPem: dto.chainPem,
      sealedSecret: seal(JSON.stringify(secret), transportKey),
      actor: { type: 'apiKey', id: principal.apiKeyId, name: principal.name, ip: caller.ip },
    };
    await this.signer.run(SIGNER_JOBS.importCa, job, `ca-import-${caId}`);
    return this.get(principal, caId);
  }

  async list(principal: OrgPrincipal, q: ListCasQueryDto) {
    const rows = await casOfOrg(this.dataSource.manager, {
      orgId: principal.orgId,
      ids: readableCaIds(principal),
      parentCaId: q.parentCaId,
      type: q.type === 'all' ? undefined : q.type,
      status: q.includeRevoked ? undefined : 'active',
    });
    return { cas: rows.map((ca) => caView(ca, this.config.PUBLIC_BASE_URL)) };
  }

  /**
   * The CA's id and org if this key may read it, from memory when the CA was seen before: a CA never
   * changes org and is never deleted, so the hot issuance path needs no query for it. (Its status is the
   * signer's to check, on the row, at signing time.)
   */
  async knownReadable(principal: OrgPrincipal, id: string): Promise<{ id: string; orgId: string }> {
    const orgId = this.orgOf.get(id);
    const readable = readableCaIds(principal);
    if (orgId !== undefined && orgId === principal.orgId && (!readable || readable.includes(id))) return { id, orgId };
    const ca = await this.readable(principal, id);
    return { id: ca.id, orgId: ca.orgId };
  }

  /** The CA if this key may read it; 404 otherwise (other org, or not granted). */
  async readable(principal: OrgPrincipal, id: string): Promise<CertificateAuthorityEntity> {
    const readable = readableCaIds(principal);
    const ca = readable && !readable.includes(id) ? null : await caInOrg(this.dataSource.manager, id, principal.orgId);
    if (!ca) throw ApiError.notFound('certificate authority');
    this.orgOf.set(ca.id, ca.orgId);
    return ca;
  }

  async get(principal: OrgPrincipal, id: string) {
    return { ca: caView(await this.readable(principal, id), this.config.PUBLIC_BASE_URL, true) };
  }

  /**
   * Revoke an intermediate through the signer: its parent signs the revoked OCSP answer and CRL entry;
   * issuing from it stops at once (the signer checks the row on every job). A root is not revoked:
   * relying parties drop its trust.
   */
  async revoke(caller: OrgCaller, id: string, dto: RevokeCaDto) {
    const principal = caller.principal;
    const reason = parseRevocationReason(dto.reason ?? 'unspecified');
    if (!reason) throw ApiError.validation([{ field: 'reason', messages: [`unknown revocation reason "${dto.reason}"`] }]);
    const ca = await this.readable(principal, id);
    if (ca.type === 'root') throw new ApiError('policy_violation', 'a root CA is not revoked: remove it from the trust stores instead');
    if (ca.status === 'revoked') throw new ApiError('already_revoked', 'certificate authority is already revoked');
    const job: RevokeCaJob = {
      caId: id,
      orgId: principal.orgId,
      reason,
      sealedParentPassphrase: ca.parentCaId ? await this.signer.sealPassphrase(dto.caPassphrase, ca.parentCaId) : undefined,
      actor: { type: 'apiKey', id: principal.apiKeyId, name: principal.name, ip: caller.ip },
    };
    await this.signer.run(SIGNER_JOBS.revokeCa, job, `ca-revoke-${id}-${randomUUID()}`);
    return this.get(principal, id);
  }

  /**
   * Spread the CA's new leaves over `crlShards` CRL shards, through the signer: it publishes the first CRL
   * of every new shard before answering, so the CDPs of the leaves issued next already answer.
   */
  async update(caller: OrgCaller, id: string, dto: UpdateCaDto) {
    const principal = caller.principal;
    await this.readable(principal, id);
    const job: SetCrlShardsJob = {
      caId: id,
      orgId: principal.orgId,
      crlShards: dto.crlShards,
      sealedCaPassphrase: await this.signer.sealPassphrase(dto.caPassphrase, id),
      actor: { type: 'apiKey', id: principal.apiKeyId, name: principal.name, ip: caller.ip },
    };
    await this.signer.run(SIGNER_JOBS.setCrlShards, job, `ca-crl-shards-${id}-${randomUUID()}`);
    return this.get(principal, id);
  }

  /** The CA's current full CRL, or one shard's (404 before its first build, which follows its creation within seconds; or no such shard). */
  async crl(principal: OrgPrincipal, id: string, shard: number | null = null): Promise<StoredCrl> {
    await this.readable(principal, id);
    return this.pki.crl(id, shard).then(crlOr404);
  }

  /**
   * Its numbers and times, the issuer's DN, and one page of the serials it lists (at most `limit` after
   * `after`, in serial order, read from the index of revoked certificates): the DER (tens of MB for a big
   * CA) is not read, and a CA with a million revoked answers a page, not the list.
   */
  async crlInfo(principal: OrgPrincipal, id: string, page: { limit: number; after?: string }, shard: number | null = null): Promise<CrlInfoView> {
    const ca = await this.readable(principal, id);
    const info: CrlInfo = await this.pki.crlInfo(id, shard).then(crlOr404);
    const after = page.after?.replace(/:/g, '').toUpperCase() ?? '';
    const serials = await revokedSerialsOnCrl(this.dataSource.manager, ca.id, info.thisUpdate, after, page.limit + 1, shard);
    const more = serials.length > page.limit;
    return {
      caId: ca.id,
      shard,
      issuer: formatName(parseCertificate(ca.certificateDer).subjectDer),
      crlNumber: Number(info.crlNumber),
      thisUpdate: info.thisUpdate.toISOString(),
      nextUpdate: info.nextUpdate.toISOString(),
      revokedCount: info.revokedCount,
      revokedSerials: serials.slice(0, page.limit),
      nextRevokedAfter: more ? serials[page.limit - 1] : null,
    };
  }

  /**
   * This CA's certificate and every issuer above it, up to the root (or an imported CA's external
   * chain). Certificates never change, so a chain is built once per CA and process.
   */
  async chain(principal: OrgPrincipal, id: string) {
    await this.knownReadable(principal, id);
    const chain = await this.chainInOrg(principal.orgId, id);
    return { caId: id, chainLength: chain.length, chain };
  }

  /** The chain of a CA of `orgId` for a caller already entitled to it (an ACME account of one of its profiles). */
  async chainInOrg(orgId: string, id: string): Promise<string[]> {
    let chain = this.chains.get(id);
    if (!chain) this.chains.set(id, (chain = await this.buildChain(orgId, id)));
    return chain;
  }

  private async buildChain(orgId: string, id: string): Promise<string[]> {
    let ca: CertificateAuthorityEntity | null = await caInOrg(this.dataSource.manager, id, orgId);
    const chain: string[] = [];
    while (ca && chain.length < MAX_CHAIN) {
      chain.push(toPem('CERTIFICATE', ca.certificateDer));
      if (ca.externalChainPem) chain.push(...ca.externalChainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? []);
      ca = ca.parentCaId ? await caInOrg(this.dataSource.manager, ca.parentCaId, orgId) : null;
    }
    return chain;
  }
}

function crlOr404<T>(crl: T | null): T {
  if (!crl) throw ApiError.notFound('CRL (the first one is being built; retry in a few seconds)');
  return crl;
}
