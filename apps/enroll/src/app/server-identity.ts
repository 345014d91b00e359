/**
 * The enroll server's own TLS certificate: from ENROLL_TLS_CERT/ENROLL_TLS_KEY files; else issued at
 * start by ENROLL_TLS_CA_ID through the signer (devices then trust that CA, fetched from the gateway's
 * /pki/cas/<id>/ca.crt); else, for a trial, a certificate under a throw-away root made at start.
 */
import { Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { caById, certificatesById } from '@signet/persistence';
import { buildCertificateSync, generateKeyPair, exportPrivateKeyPem, issuerOf, normalizeSubjectAltNames, toPem } from '@signet/pki';
import { IssueCertificateJob, SIGNER_JOBS, newRecipient, open } from '@signet/queue';
import { SignerClient } from '@signet/service';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { EnrollConfig } from './enroll.config';

export interface ServerIdentity {
  certPem: string;
  keyPem: string;
  source: 'files' | 'issued' | 'self-signed';
}

const DAY = 86_400_000;

export async function serverIdentity(config: EnrollConfig, dataSource: DataSource, signer: SignerClient, logger: Logger): Promise<ServerIdentity> {
  if (config.ENROLL_TLS_CERT || config.ENROLL_TLS_KEY) {
    if (!config.ENROLL_TLS_CERT || !config.ENROLL_TLS_KEY) throw new Error('set both ENROLL_TLS_CERT and ENROLL_TLS_KEY, or neither');
    return { certPem: readFileSync(config.ENROLL_TLS_CERT, 'utf8'), keyPem: readFileSync(config.ENROLL_TLS_KEY, 'utf8'), source: 'files' };
  }
  const names = config.ENROLL_TLS_HOSTNAMES.split(',');
  const sans = normalizeSubjectAltNames({ dns: names.filter((n) => !isIP(n)), ip: names.filter((n) => isIP(n)) });
  if (config.ENROLL_TLS_CA_ID) {
    const ca = await caById(dataSource.manager, config.ENROLL_TLS_CA_ID);
    if (!ca) throw new Error(`ENROLL_TLS_CA_ID ${config.ENROLL_TLS_CA_ID} is not a CA of this platform`);
    const recipient = newRecipient();
    const certificateId = randomUUID();
    const job: IssueCertificateJob = {
      issuanceKey: `enroll-server-${certificateId}`, certificateId, orgId: ca.orgId, caId: ca.id, mode: 'managed',
      commonName: names[0], sans: { ...sans, email: [], uri: [] }, keyAlgorithm: 'ECDSA-P256', validityDays: Math.min(90, Math.floor((ca.validTo.getTime() - Date.now()) / DAY)),
      usage: 'server', extendedKeyUsage: ['serverAuth'], autoRenew: false, renewalThresholdDays: 30, storeKey: false,
      recipientKey: recipient.publicKeyBase64, notes: 'TLS certificate of the enroll server',
      actor: { type: 'system', id: null, name: 'enroll', ip: null },
    };
    const result = await signer.run(SIGNER_JOBS.issueCertificate, job, job.issuanceKey);
    const row = (await certificatesById(dataSource.manager, [result.certificateId])).get(result.certificateId);
    if (!row) throw new Error(`the enroll server's certificate ${result.certificateId} was issued but cannot be read back`);
    const chain = [toPem('CERTIFICATE', row.certificateDer), toPem('CERTIFICATE', ca.certificateDer)];
    return { certPem: chain.join(''), keyPem: open(result.sealedPrivateKey!, recipient.privateKey), source: 'issued' };
  }
  // A trial set-up: nothing to trust but what this process made. Devices must pin it (curl --cacert).
  const now = Date.now();
  const rootKeys = await generateKeyPair('ECDSA-P256');
  const root = buildCertificateSync({
    kind: 'root', subject: { commonName: 'Signet enroll (self-signed, trial only)' }, publicKey: rootKeys.publicKey, selfSignKey: rootKeys.privateKey,
    notBefore: new Date(now - 60_000), notAfter: new Date(now + 365 * DAY), pathLength: 0,
  });
  const keys = await generateKeyPair('ECDSA-P256');
  const leaf = buildCertificateSync({
    kind: 'leaf', subject: { commonName: names[0] }, publicKey: keys.publicKey, issuer: issuerOf(root.der, rootKeys.privateKey),
    notBefore: new Date(now - 60_000), notAfter: new Date(now + 365 * DAY), sans, extendedKeyUsage: ['serverAuth'],
  });
  logger.warn('no ENROLL_TLS_CERT/ENROLL_TLS_KEY and no ENROLL_TLS_CA_ID: serving a self-signed certificate (trial only)');
  return { certPem: toPem('CERTIFICATE', leaf.der) + toPem('CERTIFICATE', root.der), keyPem: exportPrivateKeyPem(keys.privateKey), source: 'self-signed' };
}
