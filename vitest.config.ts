import { defineConfig } from 'vitest/config';

// One vitest run covers every workspace; suites sit beside the code they test.
export default defineConfig({
  test: {
    include: ['{assembly,control,dataplane,test}/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'test/cluster/.bin/**'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
