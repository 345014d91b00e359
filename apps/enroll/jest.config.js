module.exports = {
  ...require('../../jest.preset.js'),
  ...require('../../libs/testing/jest.database.js'),
  displayName: 'enroll',
  rootDir: __dirname,
};
