// Client suites (`npm run clients`): wallet sessions against a localnet with
// oracle nodes (`sibyl-demo --serve`) through libraries the project does not
// own (`@solana/kit` and the `@solana-program/*` clients).
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["clients/**/*.test.ts"],
    environment: "node",
    globalSetup: ["clients/cluster.ts"],
    testTimeout: 200_000,
    hookTimeout: 240_000,
    // One cluster; a session's steps share its state, so run in order.
    fileParallelism: false,
    sequence: { concurrent: false },
  },
});
