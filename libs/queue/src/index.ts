export * from './lib/signer-jobs';
export * from './lib/validate-job';
export * from './lib/sealed-box';
export * from './lib/renewal';
export * from './lib/crl-urls';
export * from './lib/external-acme-jobs';
