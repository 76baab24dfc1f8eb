// Two projects: fast unit/shim tests, and e2e tests that need the real stack
// (Slurm, rootless Podman, registry) set up by test/e2e/stack/setup.sh.
const tsJest = { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] };
module.exports = {
  projects: [
    { displayName: 'unit', testEnvironment: 'node', transform: tsJest, testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    { displayName: 'property', testEnvironment: 'node', transform: tsJest, testMatch: ['<rootDir>/test/property/**/*.test.ts'] },
    { displayName: 'e2e', testEnvironment: 'node', transform: tsJest, testMatch: ['<rootDir>/test/e2e/**/*.test.ts'] },
  ],
};
