module.exports = {
  ...require('../../jest.preset.js'),
  ...require('../../libs/testing/jest.database.js'),
  displayName: 'console',
  rootDir: __dirname,
  // A real browser against the real stack: slower than the API suites.
  testTimeout: 180000,
};
