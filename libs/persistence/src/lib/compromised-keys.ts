/**
 * Keys an org revoked a certificate for with reason keyCompromise, by the SHA-256 of their
 * SubjectPublicKeyInfo (as OpenSSL re-encodes it: one key, one hash). Issuance refuses a CSR for such
 * a key: one indexed look-up per coalesced job, whatever its number of requests.
 */
import type { EntityManager } from 'typeorm';

export interface CompromisedKey {
  orgId: string;
  spkiSha256: Buffer;
}

/** Remember a key as compromised (the first certificate revoked for it is kept). */
export async function recordCompromisedKey(
  manager: EntityManager,
  key: CompromisedKey & { certificateId: string; revokedAt: Date },
): Promise<void> {
  await manager.query(
    `INSERT INTO compromised_keys (org_id, spki_sha256, certificate_id, revoked_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (org_id, spki_sha256) DO NOTHING`,
    [key.orgId, key.spkiSha256, key.certificateId, key.revokedAt],
  );
}

/** Which of `keys` are compromised: a set of `orgId:hex` strings (compromisedKeyId). */
export async function compromisedAmong(manager: EntityManager, keys: CompromisedKey[]): Promise<Set<string>> {
  if (!keys.length) return new Set();
  const rows: { org_id: string; spki_sha256: Buffer }[] = await manager.query(
    `SELECT k.org_id, k.spki_sha256 FROM compromised_keys k
       JOIN unnest($1::uuid[], $2::bytea[]) AS q (org_id, spki_sha256) ON k.org_id = q.org_id AND k.spki_sha256 = q.spki_sha256`,
    [keys.map((k) => k.orgId), keys.map((k) => k.spkiSha256)],
  );
  return new Set(rows.map((r) => compromisedKeyId({ orgId: r.org_id, spkiSha256: r.spki_sha256 })));
}

export const compromisedKeyId = (key: CompromisedKey): string => `${key.orgId}:${key.spkiSha256.toString('hex')}`;
