/**
 * The revocation retry ledger: which job committed each revocation. A revoke job publishes the revoked
 * OCSP answer and schedules the CRL only after its transaction commits; if that part fails (or the
 * signer dies in between), BullMQ runs the job again, and the retry must tell "my own earlier attempt
 * revoked this" (finish what it left undone) from "someone else did" (already_revoked). The row is
 * written in the revocation's own transaction, so it exists exactly when the revocation does.
 */
import type { EntityManager } from 'typeorm';

/** What a revocation revoked: a leaf certificate or an intermediate CA, by id. */
export type RevokedSubjectKind = 'certificate' | 'ca';

export interface RevocationCommit {
  jobId: string;
  subjectKind: RevokedSubjectKind;
  subjectId: string;
}

/** Record that `jobId` revoked the subject: inside the revocation's transaction. A subject is revoked once. */
export async function recordRevocationCommit(manager: EntityManager, commit: RevocationCommit): Promise<void> {
  await manager.query(
    `INSERT INTO revocation_ledger (subject_kind, subject_id, job_id) VALUES ($1, $2, $3)`,
    [commit.subjectKind, commit.subjectId, commit.jobId],
  );
}

/** Whether the revocation of the subject was committed by this job (an earlier attempt of it). One indexed look-up. */
export async function revocationCommittedBy(manager: EntityManager, commit: RevocationCommit): Promise<boolean> {
  const [row] = await manager.query(
    `SELECT 1 FROM revocation_ledger WHERE subject_kind = $1 AND subject_id = $2 AND job_id = $3`,
    [commit.subjectKind, commit.subjectId, commit.jobId],
  );
  return !!row;
}
