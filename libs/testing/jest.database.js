// Jest settings for projects whose tests need PostgreSQL and Redis: one database per run.
const path = require('node:path');

module.exports = {
  globalSetup: path.join(__dirname, 'src/global-setup.ts'),
  globalTeardown: path.join(__dirname, 'src/global-teardown.ts'),
};
