/** Injection token of the validated SignerConfig. */
export const SIGNER_CONFIG = 'SIGNER_CONFIG';
