import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 20_000,
    hookTimeout: 60_000,
    // Two cores: files run in parallel forks, each with its own database and key prefix.
    pool: "forks",
    maxWorkers: 2,
  },
});
