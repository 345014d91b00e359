export * from './lib/test-environment';
export * from './lib/service-process';
export * from './lib/health-checks';
export * from './lib/env-example';
export * from './lib/crafted-csr';
export * from './lib/private-stores';
export * from './lib/api-client';
export * from './lib/dns-server';
