// Global setup of the browser tests: a localnet with Sibyl, the demo's
// three operators (A serves digits, C serves int8_matmul and commits wrong
// outputs, B challenges and votes) from `sibyl-demo --serve`; two wallets
// (one funded with SOL and tokens, one with SOL only); and the built app
// served by `vite preview`.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Keypair } from "@solana/web3.js";
import { build, preview } from "vite";
import type { TestProject } from "vitest/node";

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
const ROOT = dirname(APP);
const READY_TIMEOUT_MS = 180_000;

function demoBinary(): string {
  const target = process.env.CARGO_TARGET_DIR ?? join(ROOT, "target");
  const binary = join(target, "debug", "sibyl-demo");
  if (!existsSync(binary)) {
    throw new Error(`${binary} is missing: build it first with \`cargo build --workspace --all-targets\` (or run make test)`);
  }
  return binary;
}

/** Starts `sibyl-demo --serve` and waits for its ready line. */
async function startCluster(fund: Keypair, airdrop: Keypair): Promise<{ child: ChildProcess; ready: Record<string, unknown> }> {
  const child = spawn(
    demoBinary(),
    ["--serve", "--rpc-port", "0", "--ws-port", "0", "--fund", fund.publicKey.toBase58(), "--airdrop", airdrop.publicKey.toBase58()],
    { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "error" } },
  );
  const lines = createInterface({ input: child.stdout! });
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("sibyl-demo --serve was not ready in time")), READY_TIMEOUT_MS);
    child.once("exit", (code) => reject(new Error(`sibyl-demo --serve exited with ${code} before it was ready`)));
    lines.on("line", (line) => {
      if (line.startsWith("{")) {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        if (parsed.ready) {
          clearTimeout(timer);
          resolve(parsed);
        }
      } else if (process.env.SIBYL_E2E_VERBOSE) {
        console.log(`[cluster] ${line}`);
      }
    });
  });
  return { child, ready };
}

export default async function setup(project: TestProject) {
  const rich = Keypair.generate();
  const poor = Keypair.generate();
  const started = Date.now();
  const [{ child, ready }] = await Promise.all([
    startCluster(rich, poor),
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
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    if (child.exitCode === null) child.kill("SIGKILL");
  };
}
