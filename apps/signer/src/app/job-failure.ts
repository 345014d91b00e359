/**
 * How a job refuses: an UnrecoverableError (no retry: the same input would be refused again) whose
 * message is the JSON the producer turns back into the API error.
 */
import { PkiError, isPkiError } from '@signet/pki';
import { JobFailure, encodeJobFailure } from '@signet/queue';
import { apiCodeOfPki } from '@signet/service';
import { UnrecoverableError } from 'bullmq';

export const refuse = (code: string, message: string, details?: Record<string, unknown>): UnrecoverableError =>
  new UnrecoverableError(encodeJobFailure({ code, message, details } satisfies JobFailure));


/** Signing-lib refusals become job refusals; anything else is left to BullMQ's retries. */
export function asJobError(error: unknown): unknown {
  if (isPkiError(error)) return refuse(apiCodeOfPki(error as PkiError), error.message);
  return error;
}
