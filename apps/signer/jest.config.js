module.exports = {
  ...require('../../jest.preset.js'),
  ...require('../../libs/testing/jest.database.js'),
  displayName: 'signer',
  rootDir: __dirname,
};
