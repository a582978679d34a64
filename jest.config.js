// Tests are written in TypeScript and compiled by tsc (npm's pretest) into dist-test/; jest runs
// the compiled JavaScript. See README.md, "Development", for why.
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/dist-test/test'],
  testMatch: ['**/*.test.js'],
  testTimeout: 60000,
};
