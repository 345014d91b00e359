/**
 * `@signet/pki/testing`: the signing lib's helpers for other projects' tests (fuzzing DER). Never
 * imported by production code; `@signet/pki` does not export it.
 */
export * from './lib/testing/der-mutations';
