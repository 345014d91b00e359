/**
 * `ca.import`: take an externally signed CA in. Everything about the certificate and key is checked
 * here, where the key is opened anyway: it must be a CA certificate (basicConstraints CA, keyCertSign
 * when KeyUsage is present), still valid, and the key must be its key; a given chain must sign it, link
 * by link. The key is then encrypted under MASTER_KEY (and the passphrase) like a key made here.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { caCertificatesUnderSubjects, caExists, insertAuditEvents, insertCa } from '@signet/persistence';
import {
  ParsedCertificate, certificateSignedBy, encryptPrivateKey, importPrivateKey, isPkiError, issuersAmbiguous, keyAlgorithmOf, keyIdentifier, keysMatch,
  parseCertificate, pemBlocks, toPem,
} from '@signet/pki';
import { CreateCaResult, ImportCaJob, ImportCaSecret, open } from '@signet/queue';
import { DataSource } from 'typeorm';
import { refuse } from '../job-failure';
import { auditActor } from './audit-actor';
import { CaKeyring } from '../keys/ca-keyring';
import { CrlBuilder } from '../revocation/crl-builder';

const MAX_CHAIN = 8;

const invalid = (field: string, message: string) =>
  refuse('validation_failed', message, { fields: [{ field, messages: [message] }] });

@Injectable()
export class ImportCaHandler {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly keyring: CaKeyring,
    private readonly crls: CrlBuilder,
  ) {}

  async handle(job: ImportCaJob): Promise<CreateCaResult> {
    if (await caExists(this.dataSource.manager, job.caId)) return { caId: job.caId };

    let secret: ImportCaSecret;
    try {
      secret = JSON.parse(open(job.sealedSecret, this.keyring.transport.privateKey)) as ImportCaSecret;
    } catch {
      throw refuse('bad_request', 'the sealed private key could not be opened by this signer (was it sealed to another MASTER_KEY?)');
    }
    const certificate = readCertificate(job.certificatePem, 'certificatePem');
    if (!certificate.isCa) throw invalid('certificatePem', 'not a CA certificate: basicConstraints CA:TRUE is missing');
    if (certificate.keyUsage.length && !certificate.keyUsage.includes('keyCertSign')) {
      throw invalid('certificatePem', 'the certificate may not sign certificates: KeyUsage lacks keyCertSign');
    }
    if (certificate.notAfter.getTime() <= Date.now()) throw invalid('certificatePem', `the certificate expired at ${certificate.notAfter.toISOString()}`);

    let privateKey;
    try {
      privateKey = importPrivateKey(secret.privateKeyPem);
    } catch (error) {
      if (isPkiError(error)) throw invalid('privateKeyPem', error.message);
      throw error;
    }
    if (!keysMatch(privateKey, certificate.spkiDer)) throw invalid('privateKeyPem', 'the private key does not belong to the certificate');

    const chain = readChain(job.chainPem);
    let child = certificate;
    for (const [index, issuer] of chain.entries()) {
      if (!issuer.isCa) throw invalid('chainPem', `chain certificate ${index + 1} is not a CA certificate`);
      if (!child.issuerDer.equals(issuer.subjectDer) || !certificateSignedBy(child, issuer.publicKey)) {
        throw invalid('chainPem', `chain certificate ${index + 1} did not sign the certificate before it: give the chain from the issuer up`);
      }
      child = issuer;
    }
    const selfSigned = certificate.subjectDer.equals(certificate.issuerDer) && certificateSignedBy(certificate, certificate.publicKey);
    if (selfSigned && chain.length) throw invalid('chainPem', 'a self-signed root has no chain above it');

    await this.refuseShadowing(certificate, chain);

    const encryptedKey = await encryptPrivateKey(privateKey, this.keyring.master, secret.passphrase || undefined);
    const commonName = certificate.subject.commonName ?? job.name;
    await this.dataSource.transaction(async (manager) => {
      await insertCa(manager, {
        id: job.caId,
        orgId: job.orgId,
        name: job.name,
        type: selfSigned ? 'root' : 'intermediate',
        parentCaId: null,
        depth: selfSigned ? 0 : Math.max(1, chain.length),
        pathLength: certificate.pathLength,
        permittedDnsDomains: certificate.permittedDnsDomains,
        subject: { ...certificate.subject },
        commonName,
        keyAlgorithm: keyAlgorithmOf(privateKey),
        serialNumber: certificate.serialNumber,
        fingerprintSha256: certificate.fingerprintSha256,
        keyHashSha1: keyIdentifier(certificate.spkiDer),
        certificateDer: certificate.der,
        externalChainPem: chain.length ? chain.map((c) => toPem('CERTIFICATE', c.der)).join('') : null,
        encryptedKey,
        hasPassphrase: !!secret.passphrase,
        imported: true,
        validFrom: certificate.notBefore,
        validTo: certificate.notAfter,
        status: 'active',
      });
      await insertAuditEvents(manager, [{
        orgId: job.orgId, eventType: 'ca.import', outcome: 'success',
        ...auditActor(job.actor),
        resourceType: 'ca', resourceId: job.caId,
        details: { name: job.name, type: selfSigned ? 'root' : 'intermediate', serialNumber: certificate.serialNumber, fingerprintSha256: certificate.fingerprintSha256, chainLength: chain.length },
      }]);
    }).catch(async (error: { code?: string; constraint?: string }) => {
      if (error.code !== '23505') throw error;
      if (await caExists(this.dataSource.manager, job.caId)) return;
      throw refuse('conflict', 'this CA certificate is already on the platform', { fingerprintSha256: certificate.fingerprintSha256 });
    });
    await this.crls.first(job.caId, secret.passphrase || undefined);
    return { caId: job.caId };
  }

  /**
   * A certificate (or chain link) with the subject and key identifier of a CA already on the platform,
   * but another key, would make chain builders pick the wrong issuer for the other CA's children: org B
   * could cut off org A's devices (issue 18, finding 3). Refused; the message names no other org's CA.
   */
  private async refuseShadowing(certificate: ParsedCertificate, chain: ParsedCertificate[]): Promise<void> {
    const incoming = [certificate, ...chain];
    const rows = await caCertificatesUnderSubjects(this.dataSource.manager, incoming.map((c) => ({ ...c.subject }) as Record<string, string>));
    for (const row of rows) {
      const held = [parseCertificate(row.certificateDer), ...(row.externalChainPem ? readChain(row.externalChainPem) : [])];
      const index = incoming.findIndex((c) => held.some((h) => issuersAmbiguous(c, h)));
      if (index < 0) continue;
      const field = index === 0 ? 'certificatePem' : 'chainPem';
      const message = `${index === 0 ? 'the certificate' : `chain certificate ${index}`} has the subject and key identifier of another CA on the platform but a different key: verifiers could not tell the two apart`;
      throw refuse('conflict', message, { fields: [{ field, messages: [message] }] });
    }
  }
}

function readCertificate(pem: string, field: string): ParsedCertificate {
  try {
    return parseCertificate(pem);
  } catch (error) {
    if (isPkiError(error)) throw invalid(field, error.message);
    throw error;
  }
}

function readChain(chainPem: string | undefined): ParsedCertificate[] {
  if (!chainPem?.trim()) return [];
  const blocks = pemBlocks(chainPem).filter((b) => b.label === 'CERTIFICATE');
  if (!blocks.length) throw invalid('chainPem', 'no CERTIFICATE block in chainPem');
  if (blocks.length > MAX_CHAIN) throw invalid('chainPem', `at most ${MAX_CHAIN} certificates in chainPem`);
  return blocks.map((block, index) => {
    try {
      return parseCertificate(block.der);
    } catch (error) {
      if (isPkiError(error)) throw invalid('chainPem', `chain certificate ${index + 1}: ${error.message}`);
      throw error;
    }
  });
}


