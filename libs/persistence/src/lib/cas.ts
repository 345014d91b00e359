/**
 * Certificate authority rows as the signer, the enroll server and the gateway read and change them: a
 * new or imported CA's insert, look-ups by id and in an org, an org's list, a revocation's locked read
 * and update, the certificates the enroll trust store is built from, and the certificate the public
 * PKI endpoints serve. (CAs with the state of their chain: ca-chain.ts.)
 */
import { EntityManager, FindOptionsWhere, In } from 'typeorm';
import { CaStatus, CaType, CertificateAuthorityEntity, RevocationReasonName } from './entities';

/** What creating or importing a CA stores; the rest of the row (timestamps, revocation, CRL number) takes its defaults. */
export type CaInsert = Pick<
  CertificateAuthorityEntity,
  | 'id' | 'orgId' | 'name' | 'type' | 'parentCaId' | 'depth' | 'pathLength' | 'permittedDnsDomains' | 'subject' | 'commonName'
  | 'keyAlgorithm' | 'serialNumber' | 'fingerprintSha256' | 'keyHashSha1' | 'certificateDer' | 'externalChainPem' | 'encryptedKey'
  | 'hasPassphrase' | 'imported' | 'validFrom' | 'validTo' | 'status'
> & Partial<Pick<CertificateAuthorityEntity, 'crlShards'>>;

/** Insert a CA (inside `manager`'s transaction); a duplicate id or fingerprint fails with 23505. */
export async function insertCa(manager: EntityManager, row: CaInsert): Promise<void> {
  await manager.getRepository(CertificateAuthorityEntity).insert(row);
}

/** Whether a CA with this id exists (in any org). */
export function caExists(manager: EntityManager, id: string): Promise<boolean> {
  return manager.getRepository(CertificateAuthorityEntity).existsBy({ id });
}

/** The CA of this id (in any org); null when there is none. */
export function caById(manager: EntityManager, id: string): Promise<CertificateAuthorityEntity | null> {
  return manager.getRepository(CertificateAuthorityEntity).findOneBy({ id });
}

/** The CA of an id another row references (a certificate's caId, a CA's parentCaId): throws (EntityNotFoundError) when it is gone. */
export function caByIdOrFail(manager: EntityManager, id: string): Promise<CertificateAuthorityEntity> {
  return manager.getRepository(CertificateAuthorityEntity).findOneByOrFail({ id });
}

/** The org's CA of this id; null when there is none (or it is another org's). */
export function caInOrg(manager: EntityManager, id: string, orgId: string): Promise<CertificateAuthorityEntity | null> {
  return manager.getRepository(CertificateAuthorityEntity).findOneBy({ id, orgId });
}

/** Which of these ids are CAs of the org (a grant or a policy naming CAs); none given: no query. */
export async function caIdsInOrg(manager: EntityManager, orgId: string, ids: string[]): Promise<Set<string>> {
  if (!ids.length) return new Set();
  const found = await manager.getRepository(CertificateAuthorityEntity).find({ select: { id: true }, where: { orgId, id: In(ids) } });
  return new Set(found.map((ca) => ca.id));
}

export type CaValidity = Pick<CertificateAuthorityEntity, 'id' | 'status' | 'validTo'>;

/** Whether the org's CA of this id is revoked or expired (only those columns); null when there is none (or it is another org's). */
export function caValidityInOrg(manager: EntityManager, id: string, orgId: string): Promise<CaValidity | null> {
  return manager.getRepository(CertificateAuthorityEntity).findOne({ select: { id: true, status: true, validTo: true }, where: { id, orgId } });
}

export interface CaListFilter {
  orgId: string;
  /** Only these CAs (a member key's readable CAs); null: every CA of the org. */
  ids: string[] | null;
  parentCaId?: string;
  type?: CaType;
  status?: CaStatus;
}

/** The org's CAs that `filter` admits, roots first (by depth, then age). `ids` empty: none, and no query. */
export async function casOfOrg(manager: EntityManager, filter: CaListFilter): Promise<CertificateAuthorityEntity[]> {
  if (filter.ids?.length === 0) return [];
  const where: FindOptionsWhere<CertificateAuthorityEntity> = { orgId: filter.orgId };
  if (filter.ids) where.id = In(filter.ids);
  if (filter.parentCaId) where.parentCaId = filter.parentCaId;
  if (filter.type) where.type = filter.type;
  if (filter.status) where.status = filter.status;
  return manager.getRepository(CertificateAuthorityEntity).find({ where, order: { depth: 'ASC', createdAt: 'ASC' } });
}

/** The CA's own certificate (DER), in any org; null for an unknown id. One query: the public PKI endpoints' (AIA, OCSP issuer check) read. */
export async function caCertificateDer(manager: EntityManager, id: string): Promise<Buffer | null> {
  const [row] = await manager.query(`SELECT certificate_der FROM cas WHERE id = $1`, [id]);
  return row ? (row.certificate_der as Buffer) : null;
}

/** The CAs of these ids that exist, in no particular order: one query. */
export function casByIds(manager: EntityManager, ids: string[]): Promise<CertificateAuthorityEntity[]> {
  return manager.getRepository(CertificateAuthorityEntity).findBy({ id: In(ids) });
}

/** The CA, its row locked (FOR UPDATE) until `manager`'s transaction ends: a revocation's view of it. */
export function lockedCa(manager: EntityManager, id: string): Promise<CertificateAuthorityEntity | null> {
  return manager.getRepository(CertificateAuthorityEntity).findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
}

/** How many CRL shards the CA's new leaves are spread over (checked by the caller: 1..256). */
export async function setCrlShards(manager: EntityManager, id: string, crlShards: number): Promise<void> {
  await manager.getRepository(CertificateAuthorityEntity).update({ id }, { crlShards });
}

/** What a revocation changes on a CA row (inside the revocation's transaction). */
export async function markCaRevoked(manager: EntityManager, id: string, revocation: { revokedAt: Date; reason: RevocationReasonName }): Promise<void> {
  await manager.getRepository(CertificateAuthorityEntity).update({ id }, { status: 'revoked', revokedAt: revocation.revokedAt, revocationReason: revocation.reason });
}

export type CaTrustRow = Pick<CertificateAuthorityEntity, 'id' | 'orgId' | 'parentCaId' | 'status' | 'createdAt' | 'certificateDer' | 'externalChainPem'>;

/** What a trust store needs of these CAs (their certificates, parent, status and age); only those columns, one query. */
export function caTrustRows(manager: EntityManager, ids: string[]): Promise<CaTrustRow[]> {
  return manager.getRepository(CertificateAuthorityEntity).find({
    select: { id: true, orgId: true, parentCaId: true, status: true, createdAt: true, certificateDer: true, externalChainPem: true },
    where: { id: In(ids) },
  });
}
