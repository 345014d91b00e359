export * from './lib/der';
export * from './lib/algorithms';
export * from './lib/signing';
