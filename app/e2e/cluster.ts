// Global setup of the browser tests: a localnet with Sibyl, the demo's
// three operators (A serves digits, C serves int8_matmul and commits wrong
// outputs, B challenges and votes) from `sibyl-demo --serve`; two wallets
// (one funded with SOL and tokens, one with SOL only); and the built app
// served by `vite preview`.
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { Keypair } from "@solana/web3.js";
import { build, preview } from "vite";
import type { TestProject } from "vitest/node";
import { startDemoCluster, stopDemoCluster } from "./demo-cluster.js";

export interface E2eEnv {
  appUrl: string;
  rpc: string;
  ws: string;
  /** Funded with 100 SOL and 1000 payment tokens. */
  richSecretKey: number[];
  /** 100 SOL, no payment tokens. */
  poorSecretKey: number[];
  models: { name: string; address: string }[];
  /** The demo's operators A, B (honest) and C (faulty): wallets and operator accounts. */
  operators: { name: string; wallet: string; operator: string }[];
}

declare module "vitest" {
  export interface ProvidedContext {
    sibyl: E2eEnv;
  }
}

const APP = dirname(dirname(fileURLToPath(import.meta.url)));

export default async function setup(project: TestProject) {
  const rich = Keypair.generate();
  const poor = Keypair.generate();
  const started = Date.now();
  const [{ child, ready }] = await Promise.all([
    startDemoCluster(["--fund", rich.publicKey.toBase58(), "--airdrop", poor.publicKey.toBase58()]),
    build({ root: APP, logLevel: "warn" }),
  ]);
  const server = await preview({ root: APP, logLevel: "warn", preview: { port: 0, host: "127.0.0.1" } });
  const appUrl = server.resolvedUrls?.local[0];
  if (!appUrl) throw new Error("vite preview did not say where it listens");
  console.log(`e2e: cluster ${ready.rpc as string} and app ${appUrl} ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  project.provide("sibyl", {
    appUrl,
    rpc: ready.rpc as string,
    ws: ready.ws as string,
    richSecretKey: Array.from(rich.secretKey),
    poorSecretKey: Array.from(poor.secretKey),
    models: ready.models as E2eEnv["models"],
    operators: ready.operators as E2eEnv["operators"],
  });
  return async () => {
    await server.close();
    await stopDemoCluster(child);
  };
}
