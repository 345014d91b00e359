/**
 * Every failure the signing lib reports on purpose is a PkiError with a stable machine code and a
 * message a human can act on. Callers map codes to API errors; they never parse messages.
 */
export type PkiErrorCode =
  | 'invalid_encoding' // not PEM / DER / base64 of the expected structure, trailing garbage, too large
  | 'not_a_csr'
  | 'bad_signature'
  | 'weak_key'
  | 'unsupported_key'
  | 'unsupported_algorithm'
  | 'invalid_name' // DNS name, IP, e-mail, URI or distinguished-name attribute
  | 'name_constraint_violation'
  | 'key_mismatch'
  | 'decryption_failed' // wrong master key, wrong passphrase or a tampered blob
  | 'passphrase_required'
  | 'invalid_request'; // malformed OCSP request and similar

export class PkiError extends Error {
  constructor(
    readonly code: PkiErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'PkiError';
  }
}

export const isPkiError = (error: unknown, code?: PkiErrorCode): error is PkiError =>
  error instanceof PkiError && (code === undefined || error.code === code);

/** A certificate bundle input that cannot be read (bundle.ts), naming its field for a 400 that says which. */
export class BundleInputError extends PkiError {
  constructor(
    readonly field: 'certificatePem' | 'chainPem' | 'privateKeyPem' | 'pfx' | 'pfxPassword',
    message: string,
  ) {
    super('invalid_encoding', message);
  }
}
