/**
 * One enrollment, after the TLS handshake: the client certificate must be current and unrevoked and
 * come from a policy-named CA; the policy's subject rule and key algorithms hold; then the signer issues
 * through the same queue as the gateway. Re-enrollment with a certificate from the policy's own issuing
 * CA keeps the subject. Refusals are audit events with the device as actor (issuances are audited by the
 * signer, in the issuing transaction).
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { ClientCertificateState, IssuedRow, clientCertificateStates, insertAuditEvents } from '@signet/persistence';
import { ParsedCertificate, isPkiError, parseCsr } from '@signet/pki';
import { IssueCertificateJob } from '@signet/queue';
import { ApiError, IssuanceBatcher, Issued, apiErrorOfPki } from '@signet/service';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { IdentityRefusal, enrollmentIdentity } from './enrollment-identity';
import { RoundTrips } from './round-trips';
import { TrustStore } from './trust-store';

export interface Device {
  certificate: ParsedCertificate;
  ip: string | null;
}


export interface Enrolled {
  row: IssuedRow;
  chainPems: string[];
}


/** An answer of the enroll server: API.md's error shape, with its two enroll-only 403 codes. */
export class EnrollError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

@Injectable()
export class EnrollmentService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly trust: TrustStore,
    private readonly batcher: IssuanceBatcher<IssuedRow>,
  ) {}

  /**
   * The client certificates' status in the database (a certificate, or a CA's own certificate), read
   * for every enrollment (never cached, so a revocation holds from the moment the revoke call returns),
   * one query for all the enrollments that arrive while the previous one is out.
   */
  private readonly statuses = new RoundTrips<string, ClientCertificateState | undefined>(async (fingerprints) => {
    const states = await clientCertificateStates(this.dataSource.manager, fingerprints);
    return fingerprints.map((f) => states.get(f));
  });

  /**
   * Issuance with one signer job in flight per org: the org's enrollments that arrive while its job is out
   * go together in the next (RoundTrips), then through the batcher (ISSUE_COALESCE_MS on top, one org per
   * job as everywhere). Under load the groups grow with the round trip, so each enrollment pays a smaller
   * share of a job; alone, an enrollment waits for no window.
   */
  private readonly issuing = new Map<string, RoundTrips<IssueCertificateJob, PromiseSettledResult<Issued<IssuedRow>>>>();

  private async issue(job: IssueCertificateJob): Promise<Issued<IssuedRow>> {
    let trips = this.issuing.get(job.orgId);
    if (!trips) this.issuing.set(job.orgId, (trips = new RoundTrips((jobs) => Promise.allSettled(jobs.map((j) => this.batcher.issue(j))))));
    const settled = await trips.get(job);
    if (settled.status === 'rejected') throw settled.reason;
    return settled.value;
  }

  /**
   * The policy-named CA that issued the device's certificate, once the certificate is known good. A CA
   * named only as a policy's issuing CA (not in any trustedCaIds) admits only the certificates that
   * enrollment itself issued (re-enrollment): a server certificate or any other leaf it signed through
   * the API is not an enrollment credential.
   */
  async admit(device: Device, path: string) {
    const issuerCa = this.trust.namedIssuerOf(device.certificate);
    const refuse = (code: string, status: number, message: string) => this.refused(device, path, issuerCa?.orgId ?? null, code, status, message);
    if (!issuerCa) throw await refuse('forbidden', 403, 'the client certificate was not issued by a CA of any enrollment policy');
    const now = Date.now();
    if (device.certificate.notAfter.getTime() <= now || device.certificate.notBefore.getTime() > now) {
      throw await refuse('client_certificate_expired', 403, 'the client certificate has expired (or is not yet valid)');
    }
    const known = await this.statuses.get(device.certificate.fingerprintSha256);
    if (known?.status === 'revoked' || issuerCa.status === 'revoked') throw await refuse('client_certificate_revoked', 403, 'the client certificate is revoked');
    if (!this.trust.isTrusted(issuerCa.id) && !known?.enrolled) {
      throw await refuse('forbidden', 403, 'this CA is trusted only for re-enrollment with certificates that enrollment issued');
    }
    const policy = this.trust.policyFor(issuerCa.id);
    if (!policy) throw await refuse('forbidden', 403, 'no enrollment policy trusts the CA of this client certificate');
    return { issuerCa, policy, enrolled: known?.enrolled === true };
  }

  async enroll(device: Device, csrPem: string, path: string, mode: 'enroll' | 'reenroll'): Promise<Enrolled> {
    const { issuerCa, policy, enrolled } = await this.admit(device, path);
    const refuse = (code: string, status: number, message: string, details?: Record<string, unknown>) => this.refused(device, path, policy.orgId, code, status, message, details);
    // Re-enrollment: an operational certificate this policy's enrollment issued. Any other certificate,
    // even one from the issuing CA when a policy also trusts that CA, enrolls as a bootstrap credential
    // (subjectRule applies, the CSR's subject is taken).
    const reenroll = enrolled && issuerCa.id === policy.issuingCaId;
    if (mode === 'reenroll' && !reenroll) throw await refuse('forbidden', 403, 'simplereenroll needs a certificate issued by the policy itself; use simpleenroll');
    let csr;
    try {
      // Read for the policy's checks, its signature left to the signer, which verifies every CSR before
      // it signs (a bad one is refused there as bad_signature, audited below like every refusal): checked
      // here too, it was a fifth of this process's CPU per enrollment (bench/enroll.js --profile).
      csr = await parseCsr(csrPem, { verifySignature: false });
    } catch (error) {
      if (!isPkiError(error)) throw error;
      const refusal = apiErrorOfPki(error, 'csrPem');
      throw await refuse(refusal.code, refusal.status, refusal.message, refusal.details);
    }
    if (policy.allowedKeyAlgorithms.length && !policy.allowedKeyAlgorithms.includes(csr.keyAlgorithm)) {
      throw await refuse('policy_violation', 422, `key algorithm ${csr.keyAlgorithm} is not allowed by this policy (${policy.allowedKeyAlgorithms.join(', ')})`);
    }
    const clientCn = device.certificate.subject.commonName;
    const bounded = policy.subjectRule === 'match-client-cn';
    if (!reenroll && bounded && csr.commonName !== clientCn) {
      throw await refuse('forbidden', 403, `the CSR's common name (${csr.commonName ?? 'none'}) must equal the client certificate's (${clientCn ?? 'none'})`);
    }
    let identity;
    try {
      identity = enrollmentIdentity(device.certificate, csr, { bounded, reenroll });
    } catch (error) {
      if (!(error instanceof IdentityRefusal)) throw error;
      throw await refuse('forbidden', 403, error.message, { fields: error.fields });
    }
    const certificateId = randomUUID();
    const job: IssueCertificateJob = {
      issuanceKey: `enroll-${certificateId}`,
      certificateId,
      orgId: policy.orgId,
      caId: policy.issuingCaId,
      mode: 'csr',
      // Bounded by the client certificate (match-client-cn, re-enrollment), or the CSR's own (any).
      commonName: identity?.commonName,
      subject: identity?.subject,
      sans: identity?.sans ?? { dns: [], ip: [], email: [], uri: [] },
      csrPem,
      keyAlgorithm: csr.keyAlgorithm,
      // Under a profile, the profile decides validity and usage; else the policy's own (the signer's policy
      // module derives the EKU from the usage, as for every issuance).
      profileId: policy.profileId ?? undefined,
      validityDays: policy.profileId ? undefined : policy.validityDays,
      usage: policy.profileId ? undefined : policy.usage,
      autoRenew: false,
      renewalThresholdDays: 30,
      storeKey: false,
      actor: { type: 'device', id: device.certificate.serialNumber, name: clientCn ?? null, ip: device.ip },
    };
    let row: IssuedRow;
    try {
      row = (await this.issue(job)).row;
    } catch (error) {
      if (error instanceof ApiError && error.status < 500) throw await refuse(error.code, error.status, error.message, error.details);
      if (error instanceof ApiError) throw new EnrollError(error.status, error.code, error.message, error.headers ?? {}, error.details ?? {});
      throw error;
    }
    return { row, chainPems: this.trust.chainPems(policy.issuingCaId) };
  }

  /** CA certificates for EST cacerts: the chain of the issuing CA of the device's policy. */
  async caCertificates(device: Device, path: string): Promise<string[]> {
    const { policy } = await this.admit(device, path);
    return this.trust.chainPems(policy.issuingCaId);
  }

  private async refused(device: Device, path: string, orgId: string | null, code: string, status: number, message: string, details: Record<string, unknown> = {}): Promise<EnrollError> {
    await insertAuditEvents(this.dataSource.manager, [{
      orgId, eventType: 'enroll.refused', outcome: 'failed',
      actorType: 'device', actorId: device.certificate.serialNumber, actorName: device.certificate.subject.commonName ?? null, ip: device.ip,
      resourceType: 'enrollment', details: { path, fingerprintSha256: device.certificate.fingerprintSha256 }, error: { code, message, ...details },
    }]).catch(() => undefined);
    return new EnrollError(status, code, message, {}, details);
  }
}
