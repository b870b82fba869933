// Headless Chromium (Debian's, driven by playwright-core) with the app open
// and the test wallet connected.
import { mkdirSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import type { E2eEnv } from "./cluster.js";

const APP = dirname(dirname(fileURLToPath(import.meta.url)));

/** Flags for Chromium on a machine without network, GPU or sandbox. */
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export function launchBrowser(): Promise<Browser> {
  // Playwright gives each launch a fresh, empty --user-data-dir.
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: CHROMIUM_ARGS,
  });
}

/** A new page on the app, the test wallet holding `secretKey`, connected through the wallet modal. */
export async function openApp(browser: Browser, env: E2eEnv, secretKey: number[]): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 1000 } });
  await context.addInitScript((key: number[]) => {
    window.sibylTestWallet = { secretKey: key };
  }, secretKey);
  const page = await context.newPage();
  page.on("pageerror", (err) => console.error(`[page error] ${err.message}`));
  await page.goto(`${env.appUrl}?rpc=${encodeURIComponent(env.rpc)}&ws=${encodeURIComponent(env.ws)}`);
  await page.getByRole("button", { name: "Select Wallet" }).click();
  await page.getByRole("button", { name: /Local keypair \(tests\)/ }).click();
  await page.getByTestId("token-balance").waitFor();
  return page;
}

/** Draws strokes (points in the canvas's own 280×280 coordinates) with the mouse. */
export async function draw(page: Page, strokes: [number, number][][]): Promise<void> {
  const canvas = page.getByTestId("digit-canvas");
  const box = (await canvas.boundingBox())!;
  const at = ([x, y]: [number, number]) => [box.x + (x * box.width) / 280, box.y + (y * box.height) / 280] as const;
  for (const stroke of strokes) {
    await page.mouse.move(...at(stroke[0]!));
    await page.mouse.down();
    for (const point of stroke.slice(1)) await page.mouse.move(...at(point), { steps: 12 });
    await page.mouse.up();
  }
}

/**
 * Where screenshots go: `SIBYL_SCREENSHOTS` (relative to the repository,
 * `make app-screenshots` uses docs/app), else app/e2e-output/ (ignored by git).
 */
export function screenshotPath(name: string): string {
  const chosen = process.env.SIBYL_SCREENSHOTS;
  const dir = chosen ? (isAbsolute(chosen) ? chosen : join(APP, "..", chosen)) : join(APP, "e2e-output");
  mkdirSync(dir, { recursive: true });
  return join(dir, name);
}
