import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    // Vitest's default is one worker per core but one, so a 2-core CI machine ran every file in
    // turn: 691 s. Most files wait on sockets, child servers and PostgreSQL rather than compute,
    // and two at a time took 465 s with every test passing (2026-12-07).
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});
