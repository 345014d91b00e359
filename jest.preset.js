// Shared Jest settings: SWC compiles TypeScript (with decorator metadata, which Nest's DI needs)
// far faster than ts-jest; type checking is the separate `typecheck` target.
const path = require('node:path');
const fs = require('node:fs');

const swcConfig = JSON.parse(fs.readFileSync(path.join(__dirname, '.swcrc'), 'utf8'));
delete swcConfig.$schema;

module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['@swc/jest', { ...swcConfig, swcrc: false }] },
  moduleFileExtensions: ['ts', 'js', 'json'],
  moduleNameMapper: {
    '^@signet/pki/testing$': path.join(__dirname, 'libs/pki/src/testing.ts'),
    '^@signet/service/tracing$': path.join(__dirname, 'libs/service/src/lib/tracing.ts'),
    '^@signet/(pki|queue|persistence|service|testing)$': path.join(__dirname, 'libs/$1/src/index.ts'),
  },
  testMatch: ['**/?(*.)+(spec|e2e-spec).ts'],
  testTimeout: 60000,
};
