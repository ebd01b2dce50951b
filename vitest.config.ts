import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // One copy of graphql, or "Duplicate graphql modules" at run time.
    alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }],
  },
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Files run in parallel forks; each has its own PostgreSQL.
    pool: 'forks',
    maxWorkers: 2,
  },
});
