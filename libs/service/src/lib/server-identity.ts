/**
 * A service's own TLS server certificate (the enroll server's, the gateway's HTTPS listener's), from one
 * of three sources, first that applies:
 * - files: `<PREFIX>_CERT` and `<PREFIX>_KEY`, PEM (the certificate file may carry the chain after it);
 * - issued at start by `<PREFIX>_CA_ID` through the signer, for the names in `<PREFIX>_HOSTNAMES`
 *   (clients then trust that CA, fetched from the gateway's /pki/cas/<id>/ca.crt); the key is made by the
 *   signer and sealed to this process, as for any managed issuance;
 * - for a trial, a certificate under a throw-away root made at start (logged as a warning).
 * Fetched once per process at start; the store is the caller's (this lib reads no tables).
 */
import { Logger } from '@nestjs/common';
import { buildCertificateSync, exportPrivateKeyPem, generateKeyPair, issuerOf, normalizeSubjectAltNames, toPem } from '@signet/pki';
import { IssueCertificateJob, SIGNER_JOBS, newRecipient, open } from '@signet/queue';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { ApiError } from './errors';
import type { SignerClient } from './signer-client';

export interface ServerIdentity {
  /** The server certificate, then its issuer's (issued and self-signed). */
  certPem: string;
  keyPem: string;
  source: 'files' | 'issued' | 'self-signed';
}

/** The platform's rows the issued mode reads: the caller's persistence functions, bound to its DataSource. */
export interface ServerIdentityStore {
  caById(id: string): Promise<{ id: string; orgId: string; validTo: Date; certificateDer: Buffer } | null>;
  certificatesById(ids: string[]): Promise<Map<string, { certificateDer: Buffer }>>;
}

export interface ServerIdentityOptions {
  /** The service asking: the audit actor's name and the issuance key's prefix (`enroll`, `api-gateway`). */
  service: string;
  /** What the certificate is for, in the log and the certificate's notes (`the enroll server`). */
  label: string;
  /** The variables' common prefix, named in messages (`ENROLL_TLS`: ENROLL_TLS_CERT, ..._KEY, ..._CA_ID). */
  variables: string;
  certFile?: string;
  keyFile?: string;
  caId?: string;
  /** Comma-separated DNS names or IPs; the first is the common name. */
  hostnames: string;
  store: ServerIdentityStore;
  signer: SignerClient;
  logger: Logger;
}

const DAY = 86_400_000;
/**
 * How long the issued mode waits for a signer: services start together (compose), and the job waits in
 * the queue until a signer takes it. Each wait is the signer client's deadline; a retry with the same job
 * id finds the same job.
 */
const SIGNER_PATIENCE_MS = 120_000;
/** Between two waits (a store that refuses at once would otherwise be asked in a tight loop). */
const RETRY_PAUSE_MS = 1000;

export async function serverIdentity(options: ServerIdentityOptions): Promise<ServerIdentity> {
  const { certFile, keyFile, variables } = options;
  if (certFile || keyFile) {
    if (!certFile || !keyFile) throw new Error(`set both ${variables}_CERT and ${variables}_KEY, or neither`);
    return { certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8'), source: 'files' };
  }
  const names = options.hostnames.split(',');
  const sans = normalizeSubjectAltNames({ dns: names.filter((n) => !isIP(n)), ip: names.filter((n) => isIP(n)) });
  if (options.caId) return issuedIdentity(options, options.caId, names[0], sans);
  // A trial set-up: nothing to trust but what this process made. Clients must pin it (curl --cacert).
  const now = Date.now();
  const rootKeys = await generateKeyPair('ECDSA-P256');
  const root = buildCertificateSync({
    kind: 'root', subject: { commonName: `Signet ${options.service} (self-signed, trial only)` }, publicKey: rootKeys.publicKey, selfSignKey: rootKeys.privateKey,
    notBefore: new Date(now - 60_000), notAfter: new Date(now + 365 * DAY), pathLength: 0,
  });
  const keys = await generateKeyPair('ECDSA-P256');
  const leaf = buildCertificateSync({
    kind: 'leaf', subject: { commonName: names[0] }, publicKey: keys.publicKey, issuer: issuerOf(root.der, rootKeys.privateKey),
    notBefore: new Date(now - 60_000), notAfter: new Date(now + 365 * DAY), sans, extendedKeyUsage: ['serverAuth'],
  });
  options.logger.warn(`no ${variables}_CERT/${variables}_KEY and no ${variables}_CA_ID: serving a self-signed certificate (trial only)`);
  return { certPem: toPem('CERTIFICATE', leaf.der) + toPem('CERTIFICATE', root.der), keyPem: exportPrivateKeyPem(keys.privateKey), source: 'self-signed' };
}

async function issuedIdentity(options: ServerIdentityOptions, caId: string, commonName: string, sans: ReturnType<typeof normalizeSubjectAltNames>): Promise<ServerIdentity> {
  const { store, service, label } = options;
  const ca = await store.caById(caId);
  if (!ca) throw new Error(`${options.variables}_CA_ID ${caId} is not a CA of this platform`);
  const recipient = newRecipient();
  const certificateId = randomUUID();
  const job: IssueCertificateJob = {
    issuanceKey: `${service}-server-${certificateId}`, certificateId, orgId: ca.orgId, caId: ca.id, mode: 'managed',
    commonName, sans: { ...sans, email: [], uri: [] }, keyAlgorithm: 'ECDSA-P256', validityDays: Math.min(90, Math.floor((ca.validTo.getTime() - Date.now()) / DAY)),
    usage: 'server', extendedKeyUsage: ['serverAuth'], autoRenew: false, renewalThresholdDays: 30, storeKey: false,
    recipientKey: recipient.publicKeyBase64, notes: `TLS certificate of ${label}`,
    actor: { type: 'system', id: null, name: service, ip: null },
  };
  const giveUpAt = Date.now() + SIGNER_PATIENCE_MS;
  for (;;) {
    try {
      const result = await options.signer.run(SIGNER_JOBS.issueCertificate, job, job.issuanceKey);
      const row = (await store.certificatesById([result.certificateId])).get(result.certificateId);
      if (!row) throw new Error(`the certificate of ${label} (${result.certificateId}) was issued but cannot be read back`);
      const chain = [toPem('CERTIFICATE', row.certificateDer), toPem('CERTIFICATE', ca.certificateDer)];
      return { certPem: chain.join(''), keyPem: open(result.sealedPrivateKey!, recipient.privateKey), source: 'issued' };
    } catch (error) {
      const retryable = error instanceof ApiError && error.code === 'service_unavailable';
      if (!retryable || Date.now() >= giveUpAt) throw error;
      options.logger.warn(`waiting for a signer to issue the certificate of ${label} (${(error as Error).message})`);
      await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
    }
  }
}
