/**
 * `certificate.issue`: check the CA and the request against policy, make the key pair (managed) or
 * verify the CSR, build and sign the leaf, and commit the row with its audit event in one transaction.
 * The job's `issuanceKey` is unique in the table: a retry after a crash finds the committed row.
 */
import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import {
  AuditEventInput, CaWithChain, CertificateAuthorityEntity, CertificateEntity, CertificateInsert, CompromisedKey, ProfileEntity, casWithChain, certificatesByIssuanceKey,
  claimForRenewal, compromisedAmong, compromisedKeyId, InsertedCertificate, insertAuditEvents, insertCertificates, issuedCertificateOf, liveProfilesById,
} from '@signet/persistence';
import {
  DistinguishedName, ParsedCsr, SubjectAltNames, buildCertificate, encodeName, encryptPrivateKey, formatName, exportPrivateKeyPem, generateKeyPair,
  crlShardOf, namesOutside, normalizeSubjectAltNames, parseCsr, randomSerial, serialHex, spkiSha256,
} from '@signet/pki';
import { IssueCertificateJob, IssueCertificateResult, IssueCheckResult, JobFailure, crlUrl, decodeJobFailure, seal, whyRenewalCannotWork } from '@signet/queue';
import { inSpan, unfitTextFields } from '@signet/service';
import { isIP } from 'node:net';
import { UnrecoverableError } from 'bullmq';
import { KeyObject } from 'node:crypto';
import { DataSource, EntityManager, QueryFailedError } from 'typeorm';
import { asJobError, refuse } from '../job-failure';
import { auditActor } from './audit-actor';
import { CaKeyring } from '../keys/ca-keyring';
import { OcspSigner, SignedOcspResponse } from '../revocation/ocsp-signer';
import { BUILT_IN_POLICY, IssuancePolicy, IssuanceTemplate, applyPolicy, defaultKeyAlgorithm, policyOf } from '../policy/issuance-policy';
import { SIGNER_CONFIG } from '../signer-config.token';
import { certificatesIssued, issuanceSource } from '../signer-metrics';
import type { SignerConfig } from '../signer.config';

const DAY_MS = 86_400_000;

/** A CA's subject as the `issuer` of what it signs, formatted once per loaded issuer. */
const ISSUER_NAMES = new WeakMap<object, string>();
function issuerNameOf(issuer: { subjectDer: Buffer }): string {
  let name = ISSUER_NAMES.get(issuer);
  if (name === undefined) ISSUER_NAMES.set(issuer, (name = formatName(issuer.subjectDer)));
  return name;
}
const COMPROMISED_KEY_MESSAGE = "the CSR's public key belongs to a certificate revoked for keyCompromise: make a new key pair";
const BACKDATE_MS = 60_000;
const DNS_LIKE = /^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+\.?$/;

@Injectable()
export class IssueCertificateHandler {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly keyring: CaKeyring,
    private readonly ocsp: OcspSigner,
    @Inject(SIGNER_CONFIG) private readonly config: SignerConfig,
  ) {}

  /** One issuance (renewals, the sweep, and single jobs). */
  async handle(job: IssueCertificateJob): Promise<IssueCertificateResult> {
    const [outcome] = await this.handleMany([job]);
    if ('error' in outcome) throw refuse(outcome.error.code, outcome.error.message, outcome.error.details);
    return outcome;
  }

  /**
   * Issue several requests together: one look-up of what is already issued, one read of the CAs (with
   * the state of the chain above each), one look-up of compromised keys among the CSRs, and one transaction with a multi-row INSERT each for the certificates, their OCSP responses and their
   * audit events. Each item keeps its own outcome: a refusal answers that item only. Renewals (which
   * must claim the old certificate's supersededById) and any item whose insert conflicts (a racing
   * retry got there first) go through the one-by-one path, which settles them exactly.
   */
  async handleMany(jobs: IssueCertificateJob[]): Promise<IssueOutcome[]> {
    const outcomes: IssueOutcome[] = new Array(jobs.length);
    const done = await this.issuedFor(jobs.map((j) => j.issuanceKey));
    const cas = await this.casFor(jobs);
    const profiles = await liveProfilesById(this.dataSource.manager, [...new Set(jobs.flatMap((j) => (j.profileId ? [j.profileId] : [])))]);
    const prepared: { index: number; item: PreparedIssuance }[] = [];
    // Prepared side by side: key generation and signatures run on libuv's thread pool.
    await inSpan('certificate.sign', () => Promise.all(jobs.map(async (job, index) => {
      const existing = done.get(job.issuanceKey);
      if (existing) {
        outcomes[index] = { certificateId: existing.id, certificate: issuedCertificateOf(existing) };
        return;
      }
      try {
        prepared.push({ index, item: await this.prepare(job, cas.get(job.caId), profiles) });
      } catch (error) {
        outcomes[index] = { error: refusalOf(error) };
      }
    })), { attributes: { 'signet.items': jobs.length } });
    const compromised = await this.compromisedKeysOf(prepared.map((p) => p.item));
    for (let i = prepared.length - 1; i >= 0; i--) {
      const { index, item } = prepared[i];
      if (!item.csrKey || !compromised.has(compromisedKeyId(item.csrKey))) continue;
      outcomes[index] = { error: { code: 'policy_violation', message: COMPROMISED_KEY_MESSAGE, details: { field: 'csrPem', rule: 'compromisedKey' } } };
      prepared.splice(i, 1);
    }
    const bulk = prepared.filter((p) => !p.item.job.renewedFromId);
    const single = prepared.filter((p) => p.item.job.renewedFromId);
    if (bulk.length) {
      try {
        const stored = await this.dataSource.transaction((manager) => this.commit(manager, bulk.map((p) => p.item)));
        bulk.forEach(({ index, item }, i) => (outcomes[index] = this.resultOf(item, stored[i])));
        countIssued(bulk.map((p) => p.item));
      } catch (error) {
        // The database refused a statement because of what one item holds (a twin that got there
        // first, a value the table cannot take): each item goes again in its own transaction, so only
        // that one fails. Anything else (the database went away) is left to BullMQ's retry of the job.
        if (!refusedByDatabase(error)) throw error;
        single.push(...bulk);
      }
    }
    for (const { index, item } of single) {
      try {
        outcomes[index] = await this.commitOne(item);
      } catch (error) {
        outcomes[index] = { error: itemFailureOf(error, item.job) };
      }
    }
    return outcomes;
  }

  private issuedFor(keys: string[]): Promise<Map<string, CertificateEntity>> {
    return certificatesByIssuanceKey(this.dataSource.manager, keys);
  }

  /** The jobs' CAs, each with the nearest revoked or expired CA above it: one query for the whole job. */
  private casFor(jobs: IssueCertificateJob[]): Promise<Map<string, CaWithChain>> {
    return casWithChain(this.dataSource.manager, [...new Set(jobs.map((j) => j.caId))], new Date());
  }

  /** Which CSR keys of these issuances their org revoked a certificate for with keyCompromise: one query, none without CSRs. */
  private compromisedKeysOf(items: PreparedIssuance[]): Promise<Set<string>> {
    return compromisedAmong(this.dataSource.manager, items.flatMap((i) => (i.csrKey ? [i.csrKey] : [])));
  }

  /**
   * Every check of a request, and what it will get (names, key algorithm, the profile's template), without
   * opening the CA key or signing: what `check` answers (an approval request is checked when it is made)
   * and what `prepare` signs.
   */
  private async plan(job: IssueCertificateJob, entry: CaWithChain | undefined, profiles: Map<string, ProfileEntity>): Promise<IssuancePlan> {
    const ca = entry?.ca;
    if (!ca || ca.orgId !== job.orgId) throw refuse('not_found', 'certificate authority not found');
    const policy = policyFor(job, ca, profiles);
    const now = Date.now();
    if (ca.status === 'revoked') throw refuse('ca_unavailable', 'the certificate authority is revoked');
    if (ca.validTo.getTime() <= now) throw refuse('ca_unavailable', 'the certificate authority has expired');
    const above = entry.unavailableAncestor;
    if (above) throw refuse('ca_unavailable', `a certificate authority above this one (${above.caId}) is ${above.reason}`, { caId: ca.id, unavailableCaId: above.caId });
    const renewalProblem = job.autoRenew ? whyRenewalCannotWork({ mode: job.mode, keptKey: job.mode === 'csr' || job.storeKey, caHasPassphrase: ca.hasPassphrase }) : null;
    if (renewalProblem) throw refuse('policy_violation', renewalProblem, { rule: 'autoRenew', field: 'autoRenew' });

    const csr = job.mode === 'csr' ? await parseCsr(job.csrPem ?? '').catch((error) => { throw onField(error, 'csrPem'); }) : null;
    const commonName = job.commonName ?? csr?.commonName;
    if (!commonName) throw refuse('validation_failed', 'commonName is required (in the request or the CSR)', { field: 'commonName' });
    const requested: Partial<SubjectAltNames> = hasSans(job.sans)
      ? job.sans
      : { dns: csr?.sanDns ?? [], ip: csr?.sanIp ?? [], email: csr?.sanEmail ?? [], uri: csr?.sanUri ?? [] };
    const sans = (() => {
      try {
        return withCommonName(requested, commonName);
      } catch (error) {
        // The request's own SAN lists were checked by the producer: what fails is the common name or the CSR.
        throw onField(error, job.commonName ? 'commonName' : 'csrPem');
      }
    })();
    const outside = namesOutside(sans.dns, ca.permittedDnsDomains);
    if (outside.length) {
      throw refuse('policy_violation', `${outside.join(', ')} outside the CA's permitted domains (${ca.permittedDnsDomains.join(', ')})`, { field: 'sanDns' });
    }

    const keyAlgorithm = csr ? csr.keyAlgorithm : job.keyAlgorithm ?? (defaultKeyAlgorithm(policy) as NonNullable<IssueCertificateJob['keyAlgorithm']>);
    const template = applyPolicy(policy, { keyAlgorithm, validityDays: job.validityDays, usage: job.usage, extendedKeyUsage: job.extendedKeyUsage, sans });
    const notAfter = new Date(Math.floor((now + template.validityDays * DAY_MS) / 1000) * 1000);
    if (notAfter.getTime() > ca.validTo.getTime()) {
      throw refuse('policy_violation', `validityDays reaches past the CA's validTo (${ca.validTo.toISOString()})`, { field: 'validityDays', rule: 'caValidTo' });
    }

    return { ca, policy, csr, commonName, sans, keyAlgorithm, template, notAfter, now };
  }

  /** The checks of `plan` for requests that are not to be signed now (a request waiting for approval). */
  async check(jobs: IssueCertificateJob[]): Promise<IssueCheckResult> {
    const cas = await this.casFor(jobs);
    const profiles = await liveProfilesById(this.dataSource.manager, [...new Set(jobs.flatMap((j) => (j.profileId ? [j.profileId] : [])))]);
    const keys: CompromisedKey[] = [];
    for (const job of jobs) {
      const { csr } = await this.plan(job, cas.get(job.caId), profiles);
      if (csr) keys.push({ orgId: job.orgId, spkiSha256: spkiSha256(csr.publicKey) });
    }
    if ((await compromisedAmong(this.dataSource.manager, keys)).size) {
      throw refuse('policy_violation', COMPROMISED_KEY_MESSAGE, { field: 'csrPem', rule: 'compromisedKey' });
    }
    return { ok: true };
  }

  /** Every check (plan), the key pair or the CSR, the signed certificate and its OCSP answer; nothing stored yet. */
  private async prepare(job: IssueCertificateJob, entry: CaWithChain | undefined, profiles: Map<string, ProfileEntity>): Promise<PreparedIssuance> {
    const { ca, policy, csr, commonName, sans, keyAlgorithm, template, notAfter, now } = await this.plan(job, entry, profiles);
    const issuer = await this.keyring.issuer(ca, this.keyring.openPassphrase(job.sealedCaPassphrase, ca.id));

    const keys = csr ? null : await generateKeyPair(keyAlgorithm);
    const subject: DistinguishedName = { ...(job.subject ?? {}), commonName };
    // The signer's own PUBLIC_BASE_URL: what goes into a certificate is never a producer's to say.
    const base = this.config.PUBLIC_BASE_URL.replace(/\/$/, '');
    const subjectFromCsr = csr && !job.commonName && !job.subject;
    // A sharded CA's leaf names the shard its serial falls in, for good: crlShard is kept with the row.
    const serial = randomSerial();
    const crlShard = ca.crlShards > 1 ? crlShardOf(serialHex(serial), ca.crlShards) : null;
    const certificate = await buildCertificate({
      serial,
      kind: 'leaf',
      subject: subjectFromCsr ? csr.subjectDer : encodeName(subject),
      publicKey: csr ? csr.spkiDer : keys!.publicKey,
      publicKeyAlgorithm: csr?.keyAlgorithm,
      issuer,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter,
      sans,
      extendedKeyUsage: template.extendedKeyUsage,
      crlUrl: crlUrl(base, ca.id, crlShard),
      ocspUrl: `${base}/pki/ocsp`,
      caIssuersUrl: `${base}/pki/cas/${ca.id}/ca.crt`,
    });
    const encryptedKey = keys && job.storeKey ? await encryptPrivateKey(keys.privateKey, this.keyring.master) : null;
    // Its OCSP answer exists before the certificate does (RFC 5019: responses are signed ahead).
    const ocspGood = await this.ocsp.sign(ca, issuer, { serialNumber: certificate.serialNumber, certificateId: job.certificateId });
    const row: CertificateInsert = {
      id: job.certificateId,
      orgId: job.orgId,
      caId: ca.id,
      serialNumber: certificate.serialNumber,
      fingerprintSha256: certificate.fingerprintSha256,
      commonName,
      subject: subjectFromCsr ? { ...csr.subject } : subject,
      sanDns: sans.dns,
      sanIp: sans.ip,
      sanEmail: sans.email,
      sanUri: sans.uri,
      keyAlgorithm,
      usage: template.usage,
      extendedKeyUsage: template.extendedKeyUsage,
      mode: job.mode,
      validFrom: certificate.notBefore,
      validTo: certificate.notAfter,
      autoRenew: job.autoRenew,
      renewalThresholdDays: job.renewalThresholdDays,
      certificateDer: certificate.der,
      csrDer: csr?.der ?? null,
      encryptedKey,
      notes: job.notes ?? null,
      issuanceKey: job.issuanceKey,
      renewedFromId: job.renewedFromId ?? null,
      profileId: policy.profileId,
      environment: policy.environment,
      // A device's own request on 8443: the certificate it may re-enroll with.
      enrolled: job.actor.type === 'device',
      source: job.acmeAccountId ? 'acme' : 'issued',
      issuerDn: issuerNameOf(issuer),
      acmeAccountId: job.acmeAccountId ?? null,
      crlShard,
    };
    const audit: AuditEventInput = {
      orgId: job.orgId, eventType: job.renewedFromId ? 'certificate.renew' : 'certificate.issue', outcome: 'success',
      ...auditActor(job.actor),
      resourceType: 'certificate', resourceId: job.certificateId,
      details: { caId: ca.id, mode: job.mode, commonName, serialNumber: certificate.serialNumber, keyAlgorithm, storeKey: job.storeKey, renewedFromId: job.renewedFromId ?? null, profileId: policy.profileId },
    };
    const csrKey = csr ? { orgId: job.orgId, spkiSha256: spkiSha256(csr.publicKey) } : null;
    return { job, row, ocsp: ocspGood, audit, privateKey: keys?.privateKey ?? null, csrKey };
  }

  /** Rows, OCSP answers and audit events of several issuances: three statements, whatever their number. The rows as stored, in order. */
  private commit(manager: EntityManager, items: PreparedIssuance[]): Promise<InsertedCertificate[]> {
    return inSpan('certificate.store', async () => {
      const stored = await insertCertificates(manager, items.map((i) => i.row));
      await this.ocsp.store(manager, items.map((i) => i.ocsp));
      await insertAuditEvents(manager, items.map((i) => i.audit));
      return stored;
    }, { attributes: { 'signet.items': items.length } });
  }

  /** One issuance on its own: a renewal's claim on the old certificate, or a retry racing its twin. */
  private async commitOne(item: PreparedIssuance): Promise<IssueCertificateResult> {
    const { job } = item;
    let stored: InsertedCertificate;
    try {
      [stored] = await this.dataSource.transaction(async (manager) => {
        const rows = await this.commit(manager, [item]);
        if (job.renewedFromId && !(await claimForRenewal(manager, { renewedFromId: job.renewedFromId, orgId: job.orgId, renewalId: job.certificateId }))) {
          throw refuse('conflict', 'the certificate was already renewed');
        }
        return rows;
      });
    } catch (error) {
      const again = (error as { code?: string }).code === '23505' ? (await this.issuedFor([job.issuanceKey])).get(job.issuanceKey) : undefined;
      if (again) return { certificateId: again.id, certificate: issuedCertificateOf(again) };
      throw error;
    }
    countIssued([item]);
    return this.resultOf(item, stored);
  }

  private resultOf(item: PreparedIssuance, stored: InsertedCertificate): IssueCertificateResult {
    const { job, privateKey } = item;
    const sealedPrivateKey = privateKey && job.recipientKey ? seal(exportPrivateKeyPem(privateKey), job.recipientKey) : undefined;
    return { certificateId: job.certificateId, certificate: issuedCertificateOf(stored), sealedPrivateKey };
  }
}

interface IssuancePlan {
  ca: CertificateAuthorityEntity;
  policy: IssuancePolicy;
  csr: ParsedCsr | null;
  commonName: string;
  sans: SubjectAltNames;
  keyAlgorithm: NonNullable<IssueCertificateJob['keyAlgorithm']>;
  template: IssuanceTemplate;
  notAfter: Date;
  now: number;
}

interface PreparedIssuance {
  job: IssueCertificateJob;
  row: CertificateInsert;
  ocsp: SignedOcspResponse;
  audit: AuditEventInput;
  privateKey: KeyObject | null;
  /** csr mode: the requester's key, as compromised keys are looked up. */
  csrKey: CompromisedKey | null;
}

export type IssueOutcome = IssueCertificateResult | { error: JobFailure };

/** A signing-lib refusal about one request field, with that field named as the API's validation errors name it. */
function onField(error: unknown, field: string): unknown {
  const refusal = asJobError(error);
  const failure = refusal instanceof UnrecoverableError ? decodeJobFailure(refusal.message) : null;
  if (!failure) return error;
  return refuse(failure.code, failure.message, failure.code === 'validation_failed' ? { fields: [{ field, messages: [failure.message] }] } : { field });
}

/**
 * A refusal (a signing-lib error or an UnrecoverableError carrying a JobFailure) becomes the item's
 * error; anything else (the database went away) is rethrown, so BullMQ retries the whole job and the
 * items already committed are found by their issuanceKey.
 */
function refusalOf(error: unknown): JobFailure {
  const refusal = asJobError(error);
  const failure = refusal instanceof UnrecoverableError ? decodeJobFailure(refusal.message) : null;
  if (!failure) throw error;
  return failure;
}

/**
 * PostgreSQL refused a statement for what it was given (its own SQLSTATE, not a lost connection): the
 * classes that mean the server or the connection failed (08 connection, 40 rollback, 53 resources,
 * 57 operator intervention, 58 system, XX internal) are retried with the job instead.
 */
function refusedByDatabase(error: unknown): boolean {
  if (!(error instanceof QueryFailedError)) return false;
  const driverError = (error as QueryFailedError & { driverError?: { code?: unknown; severity?: unknown } }).driverError;
  const code = driverError?.code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code) || driverError?.severity === undefined) return false;
  return !['08', '40', '53', '57', '58', 'XX'].includes(code.slice(0, 2));
}

/**
 * One item's failure on its own commit: a refusal as it is (refusalOf); a value the database cannot store (SQLSTATE
 * class 22, data exception) is the request's to fix, with the fields textFault finds; any other refusal
 * of the database fails the item alone as `internal`, answered at once, not retried. Anything else
 * (the database went away) is rethrown: the job is retried, the items already committed found again.
 */
function itemFailureOf(error: unknown, job: IssueCertificateJob): JobFailure {
  if (!refusedByDatabase(error)) return refusalOf(error);
  const code = (error as QueryFailedError & { driverError: { code: string } }).driverError.code;
  if (!code.startsWith('22')) return { code: 'internal', message: 'the certificate could not be stored; the other requests of its group were not affected' };
  const fields = unfitTextFields(job);
  const message = 'a value of this request cannot be stored';
  return { code: 'validation_failed', message, details: { fields: fields.length ? fields : [{ field: 'request', messages: [message] }] } };
}

/** The profile a job issues under (the CA's built-in default without one); a deleted one is not found. */
function policyFor(job: IssueCertificateJob, ca: CertificateAuthorityEntity, profiles: Map<string, ProfileEntity>): IssuancePolicy {
  if (!job.profileId) return BUILT_IN_POLICY;
  const profile = profiles.get(job.profileId);
  if (!profile || profile.orgId !== job.orgId) throw refuse('not_found', 'profile not found');
  if (profile.caId !== ca.id) {
    const message = `the profile issues from certificate authority ${profile.caId}, not ${ca.id}`;
    throw refuse('validation_failed', message, { fields: [{ field: 'caId', messages: [message] }] });
  }
  return policyOf(profile);
}

const hasSans = (s: IssueCertificateJob['sans']) => s.dns.length + s.ip.length + s.email.length + s.uri.length > 0;

/** API.md: a common name that is a DNS name or an IP address is also placed in the SANs. */
function withCommonName(requested: Partial<SubjectAltNames>, commonName: string): SubjectAltNames {
  const extra: Partial<SubjectAltNames> = isIP(commonName) ? { ip: [commonName] } : DNS_LIKE.test(commonName) ? { dns: [commonName] } : {};
  return normalizeSubjectAltNames({
    dns: [...(extra.dns ?? []), ...(requested.dns ?? [])],
    ip: [...(extra.ip ?? []), ...(requested.ip ?? [])],
    email: requested.email ?? [],
    uri: requested.uri ?? [],
  });
}

/** Committed issuances, counted once each (a retry that finds its twin committed counts nothing). */
function countIssued(items: PreparedIssuance[]): void {
  for (const { job, row } of items) certificatesIssued.inc({ ca_id: row.caId ?? 'none', profile_id: row.profileId ?? 'none', source: issuanceSource(job) });
}
