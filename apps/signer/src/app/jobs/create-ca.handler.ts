/**
 * `ca.create`: make the key pair, build and sign the CA certificate (self-signed, or by its parent),
 * encrypt the key under MASTER_KEY (and the CA's passphrase), then store the CA and its audit event
 * in one transaction. The producer picks the CA id, so a retried job returns the CA it already made.
 */
import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { caExists, casWithChain, insertAuditEvents, insertCa } from '@signet/persistence';
import {
  buildCertificate, encryptPrivateKey, generateKeyPair, keyIdentifier, normalizeDnsName, namesOutside, parseCertificate, spkiDer,
} from '@signet/pki';
import { CA_DEFAULT_VALIDITY_DAYS, CreateCaJob, CreateCaResult, crlUrl } from '@signet/queue';
import { DataSource } from 'typeorm';
import { refuse } from '../job-failure';
import { auditActor } from './audit-actor';
import { CaKeyring } from '../keys/ca-keyring';
import { OcspSigner } from '../revocation/ocsp-signer';
import { CrlBuilder } from '../revocation/crl-builder';
import { SIGNER_CONFIG } from '../signer-config.token';
import type { SignerConfig } from '../signer.config';

const DAY_MS = 86_400_000;
/** Certificates start a minute in the past: relying parties with a slightly slow clock still accept them. */
const BACKDATE_MS = 60_000;

@Injectable()
export class CreateCaHandler {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly keyring: CaKeyring,
    private readonly ocsp: OcspSigner,
    private readonly crls: CrlBuilder,
    @Inject(SIGNER_CONFIG) private readonly config: SignerConfig,
  ) {}

  async handle(job: CreateCaJob): Promise<CreateCaResult> {
    const passphrase = this.keyring.openPassphrase(job.sealedPassphrase, job.caId);
    if (passphrase !== undefined && passphrase.length < 12) throw refuse('validation_failed', 'passphrase must be at least 12 characters', { field: 'passphrase' });
    if (await caExists(this.dataSource.manager, job.caId)) {
      await this.crls.first(job.caId, passphrase);
      return { caId: job.caId };
    }

    const now = Date.now();
    const notBefore = new Date(now - BACKDATE_MS);
    const days = job.validityDays ?? (job.parentCaId ? CA_DEFAULT_VALIDITY_DAYS.intermediate : CA_DEFAULT_VALIDITY_DAYS.root);
    let notAfter = new Date(now + days * DAY_MS);
    let permitted = (job.permittedDnsDomains ?? []).map(normalizeDnsName);
    let pathLength = job.pathLength ?? null;
    const chain = job.parentCaId ? (await casWithChain(this.dataSource.manager, [job.parentCaId], new Date(now))).get(job.parentCaId) : undefined;
    const parent = chain && chain.ca.orgId === job.orgId ? chain.ca : null;
    if (job.parentCaId && !parent) throw refuse('not_found', 'parent certificate authority not found');

    if (parent) {
      if (parent.status === 'revoked') throw refuse('ca_unavailable', 'the parent certificate authority is revoked');
      if (parent.validTo.getTime() <= now) throw refuse('ca_unavailable', 'the parent certificate authority has expired');
      const above = chain!.unavailableAncestor;
      if (above) throw refuse('ca_unavailable', `a certificate authority above the parent (${above.caId}) is ${above.reason}`, { caId: parent.id, unavailableCaId: above.caId });
      if (parent.pathLength === 0) throw refuse('policy_violation', 'the parent certificate authority has pathLength 0: it may not sign CAs');
      if (parent.pathLength !== null) {
        if (pathLength !== null && pathLength >= parent.pathLength) {
          throw refuse('policy_violation', `pathLength must be below the parent's (${parent.pathLength})`);
        }
        pathLength ??= parent.pathLength - 1;
      }
      // The default fits inside the parent; a validity the request asked for does not shrink silently.
      if (job.validityDays === undefined && notAfter.getTime() > parent.validTo.getTime()) notAfter = parent.validTo;
      if (notAfter.getTime() > parent.validTo.getTime()) {
        throw refuse('policy_violation', `validityDays reaches past the parent's validTo (${parent.validTo.toISOString()})`, { field: 'validityDays' });
      }
      if (parent.permittedDnsDomains.length) {
        const outside = namesOutside(permitted, parent.permittedDnsDomains);
        if (outside.length) throw refuse('policy_violation', `permittedDnsDomains ${outside.join(', ')} outside the parent's (${parent.permittedDnsDomains.join(', ')})`);
        // A child of a constrained CA is constrained at least as much; say so in its own certificate.
        if (!permitted.length) permitted = parent.permittedDnsDomains;
      }
    }
    notAfter = new Date(Math.floor(notAfter.getTime() / 1000) * 1000);

    const parentIssuer = parent ? await this.keyring.issuer(parent, this.keyring.openPassphrase(job.sealedParentPassphrase, parent.id)) : null;
    const keys = await generateKeyPair(job.keyAlgorithm);
    // The signer's own PUBLIC_BASE_URL: what goes into a certificate is never a producer's to say.
    const base = this.config.PUBLIC_BASE_URL.replace(/\/$/, '');
    const certificate = parent
      ? await buildCertificate({
          kind: 'intermediate', subject: job.subject, publicKey: keys.publicKey, issuer: parentIssuer!,
          notBefore, notAfter, pathLength, permittedDnsDomains: permitted,
          crlUrl: crlUrl(base, parent.id), ocspUrl: `${base}/pki/ocsp`, caIssuersUrl: `${base}/pki/cas/${parent.id}/ca.crt`,
        })
      : await buildCertificate({
          kind: 'root', subject: job.subject, publicKey: keys.publicKey, selfSignKey: keys.privateKey,
          notBefore, notAfter, pathLength, permittedDnsDomains: permitted,
        });
    const parsed = parseCertificate(certificate.der);
    const encryptedKey = await encryptPrivateKey(keys.privateKey, this.keyring.master, passphrase);
    // An intermediate is answered for by its parent's OCSP, like any certificate the parent signed.
    const ocspGood = parent ? await this.ocsp.sign(parent, parentIssuer!, { serialNumber: certificate.serialNumber, subjectCaId: job.caId }) : null;

    await this.dataSource.transaction(async (manager) => {
      await insertCa(manager, {
        id: job.caId,
        orgId: job.orgId,
        name: job.name,
        type: parent ? 'intermediate' : 'root',
        parentCaId: parent?.id ?? null,
        depth: parent ? parent.depth + 1 : 0,
        pathLength,
        permittedDnsDomains: permitted,
        subject: { ...job.subject },
        commonName: job.subject.commonName,
        keyAlgorithm: job.keyAlgorithm,
        serialNumber: certificate.serialNumber,
        fingerprintSha256: certificate.fingerprintSha256,
        keyHashSha1: keyIdentifier(spkiDer(keys.publicKey)),
        certificateDer: certificate.der,
        externalChainPem: null,
        encryptedKey,
        hasPassphrase: !!passphrase,
        imported: false,
        validFrom: parsed.notBefore,
        validTo: parsed.notAfter,
        status: 'active',
        crlShards: job.crlShards ?? 1,
      });
      if (ocspGood) await this.ocsp.store(manager, [ocspGood]);
      await insertAuditEvents(manager, [{
        orgId: job.orgId, eventType: 'ca.create', outcome: 'success',
        ...auditActor(job.actor),
        resourceType: 'ca', resourceId: job.caId,
        details: { name: job.name, type: parent ? 'intermediate' : 'root', keyAlgorithm: job.keyAlgorithm, parentCaId: parent?.id ?? null, serialNumber: certificate.serialNumber, crlShards: job.crlShards ?? 1 },
      }]);
    }).catch(async (error: { code?: string }) => {
      // A racing duplicate of this job got there first: that CA is this job's result.
      if (error.code === '23505' && (await caExists(this.dataSource.manager, job.caId))) return;
      throw error;
    });
    await this.crls.first(job.caId, passphrase);
    return { caId: job.caId };
  }
}
