import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // One copy of graphql, or "Duplicate graphql modules" at run time.
    alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }],
  },
  test: {
    include: ['tests/**/*.test.ts'],
    // Hang guards, not speed claims: above testkit's WAIT_BOUND_MS, so a wait that fails names
    // what it waited for, and a loaded 2-core CI machine never trips them.
    testTimeout: 300_000,
    hookTimeout: 300_000,
    // Files run in parallel forks; each has its own PostgreSQL.
    pool: 'forks',
    maxWorkers: 2,
  },
});
