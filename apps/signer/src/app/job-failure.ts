/**
 * How a job refuses: an UnrecoverableError (no retry: the same input would be refused again) whose
 * message is the JSON the producer turns back into the API error.
 */
import { PkiError, isPkiError } from '@signet/pki';
import { JobFailure, encodeJobFailure } from '@signet/queue';
import { UnrecoverableError } from 'bullmq';

export const refuse = (code: string, message: string, details?: Record<string, unknown>): UnrecoverableError =>
  new UnrecoverableError(encodeJobFailure({ code, message, details } satisfies JobFailure));

const PKI_TO_API: Record<string, string> = {
  invalid_name: 'validation_failed',
  invalid_encoding: 'validation_failed',
  invalid_request: 'validation_failed',
  not_a_csr: 'validation_failed',
  bad_signature: 'validation_failed',
  key_mismatch: 'validation_failed',
  name_constraint_violation: 'policy_violation',
  weak_key: 'policy_violation',
  unsupported_key: 'policy_violation',
  unsupported_algorithm: 'policy_violation',
  decryption_failed: 'ca_unavailable',
  passphrase_required: 'ca_unavailable',
};

/** Signing-lib refusals become job refusals; anything else is left to BullMQ's retries. */
export function asJobError(error: unknown): unknown {
  if (isPkiError(error)) return refuse(PKI_TO_API[(error as PkiError).code] ?? 'policy_violation', error.message);
  return error;
}
