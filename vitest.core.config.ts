import { defineConfig } from "vitest/config";

/**
 * Core's unit tests alone: every port in memory, no PostgreSQL, Redis or server, so
 * they run in a few seconds anywhere (`npm run test:core`) and are what mutation
 * testing (`npm run mutate`) runs against each mutant. `npm test` runs them too.
 */
export default defineConfig({
  test: {
    include: ["test/core/**/*.test.ts"],
    testTimeout: 5_000,
  },
});
