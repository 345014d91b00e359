/**
 * A certificate from elsewhere as an inventory row (source `imported` or `external-acme`: no Signet CA,
 * its issuer's DN and its chain), and its private key encrypted under MASTER_KEY by a signer exactly as
 * a stored managed key: the gateway seals it to the signers' transport key and keeps only the blob.
 * One home for both imports and certificates obtained from outside ACME CAs.
 */
import type { CertificateInsert, KeyAlgorithmName, SubjectRecord } from '@signet/persistence';
import { Bundle, BundleReport, parseCertificate, toPem } from '@signet/pki';
import { SIGNER_JOBS, seal } from '@signet/queue';
import type { SignerClient } from '@signet/service';
import { randomUUID } from 'node:crypto';

/** Extended key usage OIDs by the names Signet stores. */
const EKU_NAMES: Record<string, string> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth', '1.3.6.1.5.5.7.3.2': 'clientAuth', '1.3.6.1.5.5.7.3.3': 'codeSigning', '1.3.6.1.5.5.7.3.4': 'emailProtection',
  '1.3.6.1.5.5.7.3.8': 'timeStamping', '1.3.6.1.5.5.7.3.9': 'OCSPSigning',
};

function usageOf(eku: string[]): string {
  if (eku.includes('serverAuth') && eku.includes('clientAuth')) return 'server-client';
  if (eku.includes('serverAuth') || !eku.length) return 'server';
  if (eku.includes('clientAuth')) return 'client';
  return eku[0];
}

export interface FromElsewhere {
  id: string;
  orgId: string;
  source: 'imported' | 'external-acme' | 'discovered';
  encryptedKey: Buffer | null;
  notes: string | null;
  autoRenew: boolean;
  renewalThresholdDays: number;
  renewedFromId: string | null;
}

/** The row of a judged bundle (`report` is checkBundle's). */
export function certificateFromElsewhere(bundle: Bundle, report: BundleReport, row: FromElsewhere): CertificateInsert {
  const parsed = (() => {
    try {
      return parseCertificate(bundle.leaf.raw);
    } catch {
      return null;
    }
  })();
  const extendedKeyUsage = (parsed?.extendedKeyUsage ?? []).map((oid) => EKU_NAMES[oid] ?? oid);
  return {
    id: row.id, orgId: row.orgId, caId: null, serialNumber: report.serialNumber, fingerprintSha256: report.fingerprintSha256,
    commonName: report.commonName ?? report.sanDns[0] ?? report.sanIp[0] ?? '', subject: (parsed?.subject ?? { commonName: report.commonName ?? undefined }) as SubjectRecord,
    sanDns: report.sanDns, sanIp: report.sanIp, sanEmail: parsed?.sans.email ?? [], sanUri: parsed?.sans.uri ?? [],
    // Any algorithm its issuer used (RSA-1024, P-521, ...): the column is text; Signet never signs with it.
    keyAlgorithm: report.keyAlgorithm as KeyAlgorithmName, usage: usageOf(extendedKeyUsage), extendedKeyUsage, mode: row.encryptedKey ? 'managed' : 'csr',
    validFrom: new Date(report.validFrom), validTo: new Date(report.validTo), autoRenew: row.autoRenew, renewalThresholdDays: row.renewalThresholdDays,
    certificateDer: bundle.leaf.raw, csrDer: null, encryptedKey: row.encryptedKey, notes: row.notes, issuanceKey: null, renewedFromId: row.renewedFromId,
    source: row.source, issuerDn: report.issuer, chainPem: bundle.chain.map((c) => toPem('CERTIFICATE', c.raw)).join('') || null,
  };
}

/** The key encrypted under MASTER_KEY by a signer (`key.wrap`); it crosses Redis only sealed to the signers. */
export async function wrapPrivateKey(signer: SignerClient, privateKeyPem: string): Promise<Buffer> {
  const sealedPrivateKey = seal(privateKeyPem, await signer.transportKey());
  const { encryptedKey } = await signer.run(SIGNER_JOBS.wrapKey, { sealedPrivateKey }, `wrap-${randomUUID()}`);
  return Buffer.from(encryptedKey, 'base64');
}
