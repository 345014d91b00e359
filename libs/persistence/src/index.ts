export * from './lib/entities';
export * from './lib/migrations';
export * from './lib/data-source';
export * from './lib/audit-events';
export * from './lib/insert-certificates';
export * from './lib/certificate-json';
export * from './lib/ca-certificates';
export * from './lib/profiles';
