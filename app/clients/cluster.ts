// Global setup of the client suites (`npm run clients`): a localnet with
// Sibyl and the demo's oracle nodes from `sibyl-demo --serve`, funding one
// wallet, "alice" (100 SOL and payment tokens), whose key the suites get as
// a 32-byte seed.
import { getRandomValues } from "node:crypto";
import { createKeyPairSignerFromPrivateKeyBytes } from "@solana/kit";
import type { TestProject } from "vitest/node";
import { startDemoCluster, stopDemoCluster } from "../e2e/demo-cluster.js";

export interface KitEnv {
  /** JSON-RPC URL. */
  rpc: string;
  /** PubSub (WebSocket) URL. */
  ws: string;
  /** The payment mint (SPL Token). */
  mint: string;
  /** The models the demo registered, by name. */
  models: { name: string; address: string }[];
  /** Alice's Ed25519 seed: funded with 100 SOL and payment tokens. */
  aliceSeed: number[];
}

declare module "vitest" {
  export interface ProvidedContext {
    kit: KitEnv;
  }
}

export default async function setup(project: TestProject) {
  const seed = getRandomValues(new Uint8Array(32));
  const alice = await createKeyPairSignerFromPrivateKeyBytes(seed);
  const started = Date.now();
  const { child, ready } = await startDemoCluster(["--fund", alice.address]);
  try {
    for (const field of ["rpc", "ws", "mint"] as const) {
      if (typeof ready[field] !== "string") {
        throw new Error(`sibyl-demo's ready line has no ${field} (is target/debug/sibyl-demo current?): ${JSON.stringify(ready)}`);
      }
    }
    if (!Array.isArray(ready.models)) throw new Error(`sibyl-demo's ready line has no models: ${JSON.stringify(ready)}`);
  } catch (err) {
    await stopDemoCluster(child);
    throw err;
  }
  console.log(
    `kit: ok   ${"cluster ready".padEnd(28)} ${ready.rpc as string} in ${((Date.now() - started) / 1000).toFixed(1)} s ` +
      `(alice ${alice.address.slice(0, 8)}… funded)`,
  );
  project.provide("kit", {
    rpc: ready.rpc as string,
    ws: ready.ws as string,
    mint: ready.mint as string,
    models: ready.models as KitEnv["models"],
    aliceSeed: Array.from(seed),
  });
  return async () => {
    await stopDemoCluster(child);
  };
}
