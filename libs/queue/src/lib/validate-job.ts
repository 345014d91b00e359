import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';

/** Validate a payload taken off the queue; returns the typed instance or the list of bad fields. */
export function validateJob<T extends object>(cls: new () => T, data: unknown): { job: T } | { errors: string[] } {
  const job = plainToInstance(cls, data);
  const errors = validateSync(job, { whitelist: true, forbidNonWhitelisted: true });
  if (errors.length) return { errors: errors.map((e) => e.property) };
  return { job };
}
