// `sibyl-demo --serve` as a child process: a localnet with Sibyl and the
// demo's oracle nodes, for the test suites that need a cluster (the browser
// tests in `e2e/`, the client suites in `clients/`).
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const APP = dirname(dirname(fileURLToPath(import.meta.url)));
const ROOT = dirname(APP);
const READY_TIMEOUT_MS = 180_000;
const STOP_TIMEOUT_MS = 10_000;

/** The demo's ready line: where the cluster listens and what it deployed. */
export type DemoReady = Record<string, unknown>;

function demoBinary(): string {
  const target = process.env.CARGO_TARGET_DIR ?? join(ROOT, "target");
  const binary = join(target, "debug", "sibyl-demo");
  if (!existsSync(binary)) {
    throw new Error(`${binary} is missing: build it first with \`cargo build --workspace --all-targets\` (or run make test)`);
  }
  return binary;
}

/**
 * Starts `sibyl-demo --serve --rpc-port 0 --ws-port 0 ...args` from the
 * repository root and waits for its ready line (one JSON object on stdout).
 */
export async function startDemoCluster(args: string[]): Promise<{ child: ChildProcess; ready: DemoReady }> {
  const child = spawn(demoBinary(), ["--serve", "--rpc-port", "0", "--ws-port", "0", ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "error" },
  });
  const lines = createInterface({ input: child.stdout! });
  try {
    const ready = await new Promise<DemoReady>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("sibyl-demo --serve was not ready in time")), READY_TIMEOUT_MS);
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`sibyl-demo --serve exited with ${code} before it was ready`));
      });
      lines.on("line", (line) => {
        if (line.startsWith("{")) {
          const parsed = JSON.parse(line) as DemoReady;
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
  } catch (err) {
    // Not ready in time: leave no cluster behind.
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    throw err;
  }
}

/** Stops the cluster: SIGTERM, then SIGKILL if it is still running after 10 s. */
export async function stopDemoCluster(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, STOP_TIMEOUT_MS))]);
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
}
