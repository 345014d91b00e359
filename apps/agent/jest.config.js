module.exports = {
  ...require('../../jest.preset.js'),
  ...require('../../libs/testing/jest.database.js'),
  displayName: 'agent',
  rootDir: __dirname,
};
