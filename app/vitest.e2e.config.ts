// Browser tests (`npm run e2e`): the built app in headless Chromium against
// a localnet with oracle nodes (`sibyl-demo --serve`), paying with a test
// wallet adapter that holds a local keypair.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["e2e/**/*.e2e.ts"],
    environment: "node",
    globalSetup: ["e2e/cluster.ts"],
    testTimeout: 150_000,
    hookTimeout: 240_000,
    // One browser and one cluster; the requests share the nodes, so run in order.
    fileParallelism: false,
    sequence: { concurrent: false },
  },
});
