module.exports = {
  ...require('../../jest.preset.js'),
  ...require('../../libs/testing/jest.database.js'),
  displayName: 'persistence',
  rootDir: __dirname,
};
