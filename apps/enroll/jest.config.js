module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'enroll',
  rootDir: __dirname,
};
