/**
 * What the enroll server trusts: every CA named by some enrollment policy (trustedCaIds, and the
 * issuing CAs, whose own enrollment certificates devices re-enroll with). The certificates above them
 * go into the TLS context too, only so that OpenSSL can build the chain to a root (Node's server gives
 * no partial-chain option): a client certificate must have been signed by a NAMED CA itself
 * (`namedIssuerOf`), so one signed by an ancestor or a sibling is cut after the handshake like any
 * untrusted one. Re-read on every policy-change announcement (Redis pub/sub) and every
 * ENROLL_TRUST_POLL_MS; listeners (the TLS server) hear when the set changed.
 */
import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { EnrollmentPolicyEntity, caTrustRows, enrollmentPoliciesOldestFirst } from '@signet/persistence';
import { ParsedCertificate, certificateSignedBy, issuersAmbiguous, parseCertificate, pemBlocks, toPem } from '@signet/pki';
import { enrollmentPoliciesChannel } from '@signet/queue';
import { closeRedis, createRedis } from '@signet/service';
import type Redis from 'ioredis';
import { DataSource } from 'typeorm';
import { ENROLL_CONFIG } from './enroll-config.token';
import type { EnrollConfig } from './enroll.config';

export interface TrustedCa {
  id: string;
  orgId: string;
  parentCaId: string | null;
  status: string;
  createdAt: Date;
  certificate: ParsedCertificate;
  pem: string;
  /** Certificates above it that are not Signet CAs (an imported CA's external chain). */
  externalChain: ParsedCertificate[];
  externalChainPems: string[];
}

const MAX_DEPTH = 16;
/** Client certificates whose issuing CA is remembered (the oldest goes first). */
const ISSUER_MEMO_SIZE = 10_000;

@Injectable()
export class TrustStore implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(TrustStore.name);
  private cas = new Map<string, TrustedCa>();
  /** Ids of the CAs policies name (trustedCaIds and issuingCaId); the rest of `cas` are chain links. */
  private named = new Set<string>();
  /** Client certificate fingerprint -> id of the CA that signed it, for the current set of CAs. */
  private issuers = new Map<string, string>();
  private policies: EnrollmentPolicyEntity[] = [];
  /** PEMs of the TLS context's `ca`, with no two certificates a chain builder could confuse. */
  private anchors: string[] = [];
  private fingerprint = '';
  private subscriber: Redis | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly listeners: (() => void)[] = [];

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(ENROLL_CONFIG) private readonly config: EnrollConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.reload();
    this.timer = setInterval(() => void this.reload().catch((err: Error) => this.logger.warn({ err: err.message }, 'trust store reload failed')), this.config.ENROLL_TRUST_POLL_MS);
    this.timer.unref();
    this.subscriber = createRedis(this.config.REDIS_URL, 'signet-enroll-policies');
    this.subscriber.subscribe(enrollmentPoliciesChannel(this.config.QUEUE_PREFIX)).catch(() => undefined);
    this.subscriber.on('message', () => void this.reload().catch(() => undefined));
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.subscriber) await closeRedis(this.subscriber);
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** PEMs for the TLS context's `ca`: the named CAs and everything above them (see `unambiguousAnchors`). */
  anchorPems(): string[] {
    return this.anchors;
  }

  ca(id: string): TrustedCa | undefined {
    return this.cas.get(id);
  }

  /**
   * The policy-named CA that signed `cert` (its issuer name and signature both match), if any. Found
   * once per certificate while the set of CAs stays the same: a signature check gives the same answer
   * for the same bytes and key, and the memo is dropped whenever the set (or a status in it) changes.
   */
  issuerOf(cert: ParsedCertificate): TrustedCa | undefined {
    const known = this.issuers.get(cert.fingerprintSha256);
    if (known) return this.cas.get(known);
    for (const ca of this.cas.values()) {
      if (ca.certificate.subjectDer.equals(cert.issuerDer) && certificateSignedBy(cert, ca.certificate.publicKey)) {
        if (this.issuers.size >= ISSUER_MEMO_SIZE) this.issuers.delete(this.issuers.keys().next().value as string);
        this.issuers.set(cert.fingerprintSha256, ca.id);
        return ca;
      }
    }
    return undefined;
  }

  /** The CA that signed `cert` if a policy names it (trusted or issuing); undefined for chain links. */
  namedIssuerOf(cert: ParsedCertificate): TrustedCa | undefined {
    const ca = this.issuerOf(cert);
    return ca && this.named.has(ca.id) ? ca : undefined;
  }

  /** Whether some policy lists this CA in trustedCaIds (not only as its issuing CA). */
  isTrusted(caId: string): boolean {
    return this.policies.some((p) => p.trustedCaIds.includes(caId));
  }

  /** The oldest policy that trusts this CA, or whose issuing CA it is (re-enrollment). */
  policyFor(caId: string): EnrollmentPolicyEntity | undefined {
    return this.policies.find((p) => p.trustedCaIds.includes(caId)) ?? this.policies.find((p) => p.issuingCaId === caId);
  }

  /** The chain above (and including) a CA, as PEMs: for answers that carry the chain. */
  chainPems(caId: string): string[] {
    const out: string[] = [];
    let ca = this.cas.get(caId);
    while (ca && out.length < MAX_DEPTH) {
      out.push(ca.pem, ...ca.externalChainPems);
      ca = ca.parentCaId ? this.cas.get(ca.parentCaId) : undefined;
    }
    return out;
  }

  /**
   * The TLS context's trust anchors. OpenSSL picks a client certificate's issuer by name and key
   * identifier before it checks the signature, so two anchors with the same subject and key identifier
   * but different keys (one org's copy of another's public CA certificate, say) would fail every device
   * of whichever CA it does not pick. Import refuses such a certificate; should one be here anyway (a row
   * from before that check), the CA that was on the platform first keeps its place and the later one is
   * left out, with a warning: one org can never cut off another's devices.
   */
  private unambiguousAnchors(cas: Map<string, TrustedCa>): string[] {
    const kept: ParsedCertificate[] = [];
    const pems: string[] = [];
    const oldestFirst = [...cas.values()].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id));
    for (const ca of oldestFirst) {
      const certificates = [ca.certificate, ...ca.externalChain];
      certificates.forEach((certificate, index) => {
        if (kept.some((k) => k.der.equals(certificate.der))) return;
        if (kept.some((k) => issuersAmbiguous(k, certificate))) {
          this.logger.warn({ caId: ca.id, orgId: ca.orgId, fingerprintSha256: certificate.fingerprintSha256 }, 'CA certificate left out of the enrollment trust store: an older CA has its subject and key identifier with another key');
          return;
        }
        kept.push(certificate);
        pems.push(index === 0 ? ca.pem : ca.externalChainPems[index - 1]);
      });
    }
    return pems;
  }

  async reload(): Promise<void> {
    const policies = await enrollmentPoliciesOldestFirst(this.dataSource.manager);
    const wanted = new Set(policies.flatMap((p) => [...p.trustedCaIds, p.issuingCaId]));
    const cas = new Map<string, TrustedCa>();
    let frontier = [...wanted];
    for (let depth = 0; frontier.length && depth < MAX_DEPTH; depth++) {
      const rows = await caTrustRows(this.dataSource.manager, frontier);
      for (const row of rows) {
        const external = row.externalChainPem ? pemBlocks(row.externalChainPem).filter((b) => b.label === 'CERTIFICATE') : [];
        cas.set(row.id, {
          id: row.id, orgId: row.orgId, parentCaId: row.parentCaId, status: row.status, createdAt: row.createdAt,
          certificate: parseCertificate(row.certificateDer), pem: toPem('CERTIFICATE', row.certificateDer),
          externalChain: external.map((b) => parseCertificate(b.der)), externalChainPems: external.map((b) => toPem('CERTIFICATE', b.der)),
        });
      }
      frontier = rows.map((r) => r.parentCaId).filter((id): id is string => !!id && !cas.has(id));
    }
    const fingerprint = JSON.stringify([[...cas.keys()].sort(), [...cas.values()].map((c) => c.status), policies.map((p) => [p.id, p.trustedCaIds, p.issuingCaId])]);
    if (fingerprint !== this.fingerprint) this.issuers = new Map();
    this.cas = cas;
    this.anchors = this.unambiguousAnchors(cas);
    this.named = wanted;
    this.policies = policies;
    if (fingerprint !== this.fingerprint) {
      this.fingerprint = fingerprint;
      this.logger.log({ trustedCas: cas.size, policies: policies.length }, 'trust store loaded');
      for (const listener of this.listeners) listener();
    }
  }
}
