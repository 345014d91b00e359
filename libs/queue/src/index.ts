export * from './lib/signer-jobs';
export * from './lib/validate-job';
