// A wallet user's paths through the app, in a real browser against a real
// localnet with oracle nodes: pay for a drawn digit and watch it finalize;
// watch a faulty operator's result get overturned; and the errors a user
// meets (no tokens, a rejected signature).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, inject, test } from "vitest";
import { Connection, PublicKey } from "@solana/web3.js";
import type { Browser, Page } from "playwright-core";
import { BorshAccountsCoder } from "@coral-xyz/anchor";
import { IDL } from "../src/generated/sibyl.js";
import type { InferenceRequestAccount } from "../src/sibyl/client.js";
import { decodeTensors } from "../src/sibyl/encoding.js";
import { disputePda, escrowPda } from "../src/sibyl/pda.js";
import { draw, launchBrowser, openApp, screenshotPath } from "./browser.js";

const env = inject("sibyl");
let browser: Browser;

beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

/** A "7": a top bar and a slanted stem (the model reads it as 7 with p ≈ 0.98). */
const SEVEN: [number, number][][] = [[[80, 50], [200, 50], [120, 240]]];

/** The first case of a fixture in models/fixtures.json: its input values and the correct output. */
function fixtureCase(name: string): { input: number[]; output: number[] } {
  const fixtures = JSON.parse(readFileSync(join(import.meta.dirname, "../../models/fixtures.json"), "utf8"));
  const fixture = fixtures.fixtures.find((f: { name: string }) => f.name === name);
  const hex = (text: string) => Uint8Array.from(Buffer.from(text, "hex"));
  return {
    input: decodeTensors(hex(fixture.cases[0].input_encoding))[0]!.values,
    output: decodeTensors(hex(fixture.cases[0].output_encoding))[0]!.values,
  };
}

async function useModel(page: Page, name: string): Promise<void> {
  await page.getByTestId(`model-${name}`).getByRole("button", { name: "Use this model" }).click();
  await page.getByTestId("request-form").waitFor();
}

/** Draws a 7 on the digits model and opens the review of its payment. */
async function reviewDigitPayment(page: Page): Promise<void> {
  await useModel(page, "digits.onnx");
  await draw(page, SEVEN);
  await page.getByRole("button", { name: "Review payment" }).click();
  await page.getByTestId("review").waitFor();
}

/**
 * Pays for a drawn 7, waits for its commit, and opens the review of a
 * challenge claiming class 1 (the bond shown on the button).
 */
async function reviewChallengeOfASeven(page: Page): Promise<void> {
  await reviewDigitPayment(page);
  await page.getByRole("button", { name: "Sign and pay" }).click();
  await stageReached(page, "committed");
  await page.getByRole("button", { name: /Challenge this result \(bond 1 tokens\)/ }).click();
  await page.getByLabel("Correct class").selectOption("1");
  await page.getByRole("button", { name: "Review challenge" }).click();
  await page.getByTestId("review").waitFor();
}

async function stageReached(page: Page, stage: string, timeout = 90_000): Promise<void> {
  await page.locator(`[data-testid="request-view"][data-stage="${stage}"]`).waitFor({ timeout });
}

test("the model list shows each model's price, rule, window and requests", async () => {
  const page = await openApp(browser, env, env.richSecretKey);
  const digits = page.getByTestId("model-digits.onnx");
  await expect.poll(() => digits.textContent(), { timeout: 15_000 }).toContain("0.01 tokens");
  const text = (await digits.textContent())!;
  expect(text).toContain("same top-1 class");
  expect(text).toContain("25 slots");
  expect(text).toMatch(/\d+ in all · \d+ open/);
  const int8 = (await page.getByTestId("model-int8_matmul.onnx").textContent())!;
  expect(int8).toContain("0.005 tokens");
  expect(int8).toContain("exact (byte for byte)");
  expect(await page.getByTestId("token-balance").textContent()).toContain("1000 tokens");
  await page.screenshot({ path: screenshotPath("model-list.png"), fullPage: true });
  await page.context().close();
});

test("a drawn 7 is paid for, waits out its challenge window and is finalized as 7", async () => {
  const page = await openApp(browser, env, env.richSecretKey);
  await useModel(page, "digits.onnx");
  await draw(page, SEVEN);
  await page.getByTestId("digit-preview").waitFor();
  await page.getByRole("button", { name: "Review payment" }).click();
  const review = page.getByTestId("review");
  await review.waitFor();
  expect(await review.getByTestId("review-tokens").textContent()).toBe("0.01 tokens");
  expect(await review.getByTestId("review-network-fee").textContent()).toBe("0.000005 SOL");
  expect(await review.getByTestId("review-instructions").textContent()).toContain("request_inference");
  const deposit = (await review.getByTestId("review-deposit").textContent())!;
  await page.getByRole("button", { name: "Sign and pay" }).click();

  await stageReached(page, "committed");
  await page.getByTestId("countdown").waitFor();
  expect(await page.getByTestId("stage").textContent()).toMatch(/In the challenge window: \d+ slots left/);
  expect(await page.getByTestId("result-committed").getByTestId("predicted-class").textContent()).toBe("7");
  await page.screenshot({ path: screenshotPath("challenge-window.png"), fullPage: true });

  // The deposit shown before signing is what the request and its escrow hold.
  const address = (await page.getByTestId("request-view").locator("h2 code").getAttribute("title"))!;
  const connection = new Connection(env.rpc, "confirmed");
  const requestLamports = (await connection.getAccountInfo(new PublicKey(address)))!.lamports;
  const escrow = escrowPda(new PublicKey(address));
  const escrowLamports = (await connection.getAccountInfo(escrow))!.lamports;
  expect(deposit).toContain(`${((requestLamports + escrowLamports) / 1e9).toString()} SOL`);

  await stageReached(page, "finalized");
  expect(await page.getByTestId("result-final").getByTestId("predicted-class").textContent()).toBe("7");
  expect(await page.getByTestId("timeline").textContent()).toContain("Finalized");
  await page.screenshot({ path: screenshotPath("finalized.png"), fullPage: true });
  await page.context().close();
});

test("a faulty operator's result is challenged, voted down and shown as overturned", async () => {
  const { input, output } = fixtureCase("int8_matmul");
  const page = await openApp(browser, env, env.richSecretKey);
  await useModel(page, "int8_matmul.onnx");
  await page.getByTestId("json-input").fill(JSON.stringify(input));
  await page.getByRole("button", { name: "Review payment" }).click();
  await page.getByRole("button", { name: "Sign and pay" }).click();
  await stageReached(page, "overturned");
  const dispute = page.getByTestId("dispute");
  expect(await dispute.getByTestId("dispute-outcome").getAttribute("data-outcome")).toBe("challengerUpheld");
  expect(await dispute.getByTestId("dispute-outcome").textContent()).toContain("the operator is slashed");
  // Operator B's node watches the int8 model and challenged with its own output.
  const challenger = env.operators.find((o) => o.name === "operator B")!.wallet;
  expect(await dispute.textContent()).toContain(challenger.slice(0, 4));
  // The final result is the correct output (what Python onnxruntime computed).
  const finalValues = await page.getByTestId("result-final").locator(".bar .value").allTextContents();
  expect(finalValues.map(Number)).toEqual(output);
  const committedValues = await page.getByTestId("result-committed").locator(".bar .value").allTextContents();
  expect(committedValues.map(Number)).not.toEqual(output);
  expect(await page.getByTestId("stage").textContent()).toContain("Overturned");
  await page.screenshot({ path: screenshotPath("overturned.png"), fullPage: true });
  await page.context().close();
});

test("a user's challenge of a correct result is voted down: the result stands and the bond is lost", async () => {
  const page = await openApp(browser, env, env.richSecretKey);
  await reviewChallengeOfASeven(page);
  const beforeChallenge = (await page.getByTestId("token-balance").textContent())!;
  const deposit = (await page.getByTestId("review").getByTestId("review-deposit").textContent())!;
  await page.getByRole("button", { name: "Sign and post the bond" }).click();
  await stageReached(page, "challenged", 15_000);
  await page.getByTestId("votes").waitFor();
  // The dispute's rent shown before signing is what the dispute account holds.
  const request = new PublicKey((await page.getByTestId("request-view").locator("h2 code").getAttribute("title"))!);
  const connection = new Connection(env.rpc, "confirmed");
  const requestState = new BorshAccountsCoder(IDL).decode<InferenceRequestAccount>(
    "inferenceRequest",
    (await connection.getAccountInfo(request))!.data,
  );
  const dispute = disputePda(requestState.model, requestState.sequence);
  const disputeLamports = (await connection.getAccountInfo(dispute))!.lamports;
  expect(deposit).toContain(`${disputeLamports / 1e9} SOL`);
  await page.screenshot({ path: screenshotPath("challenged.png"), fullPage: true });
  await stageReached(page, "finalized");
  const outcome = page.getByTestId("dispute-outcome");
  expect(await outcome.getAttribute("data-outcome")).toBe("operatorUpheld");
  expect(await outcome.textContent()).toContain("the challenger loses the bond");
  expect(await page.getByTestId("result-final").getByTestId("predicted-class").textContent()).toBe("7");
  // 1 token of bond gone (the fee was paid before).
  const tokens = (text: string) => Number(/([\d.]+) tokens/.exec(text)![1]);
  await expect
    .poll(async () => tokens((await page.getByTestId("token-balance").textContent())!), { timeout: 15_000 })
    .toBeCloseTo(tokens(beforeChallenge) - 1, 6);
  await page.context().close();
});

test("a model of two named inputs is asked with one JSON object and its logits come back by name", async () => {
  const families = JSON.parse(readFileSync(join(import.meta.dirname, "../../models/families/families.json"), "utf8"));
  const encoder = families.families.find((f: { name: string }) => f.name === "tiny_encoder");
  const sample = readFileSync(join(import.meta.dirname, "../../models", encoder.cases[0].sample), "utf8");
  const expected: number[] = encoder.cases[0].outputs.logits;
  const page = await openApp(browser, env, env.richSecretKey);
  await useModel(page, "tiny_encoder.onnx");
  const form = (await page.getByTestId("request-form").textContent())!;
  expect(form).toContain("input_ids int64 [1 × -1], attention_mask int64 [1 × -1]");
  await page.getByTestId("json-input").fill(sample);
  await page.getByRole("button", { name: "Review payment" }).click();
  await page.getByTestId("review").waitFor();
  expect(await page.getByTestId("review").getByTestId("review-deposit").textContent()).toContain("SOL");
  await page.getByRole("button", { name: "Sign and pay" }).click();
  await stageReached(page, "finalized");
  const result = page.getByTestId("result-final");
  expect(await result.textContent()).toContain("logits");
  const values = await result.locator(".bar .value").allTextContents();
  expect(values.map(Number)).toEqual(expected.map((v) => Number(v.toFixed(4))));
  await page.context().close();
});

test("a classifier's top 5 are final on chain and its whole output comes from the serving node, checked", async () => {
  const families = JSON.parse(readFileSync(join(import.meta.dirname, "../../models/families/families.json"), "utf8"));
  const classifier = families.families.find((f: { name: string }) => f.name === "classifier1000");
  const sample = readFileSync(join(import.meta.dirname, "../../models", classifier.cases[0].sample), "utf8");
  const page = await openApp(browser, env, env.richSecretKey);
  await useModel(page, "classifier1000.onnx");
  await page.getByTestId("json-input").fill(sample);
  await page.getByRole("button", { name: "Review payment" }).click();
  await page.getByTestId("review").waitFor();
  await page.getByRole("button", { name: "Sign and pay" }).click();
  await stageReached(page, "finalized");
  // The result on chain: Python's top 5 (class, score × 65536) pairs.
  const result = page.getByTestId("result-final");
  expect(await result.textContent()).toContain("logits");
  // The whole output, fetched from operator A's node and checked.
  const checked = page.getByTestId("whole-output-checked");
  await checked.waitFor({ timeout: 20_000 });
  expect(await checked.textContent()).toContain(classifier.cases[0].whole_output_sha256.slice(0, 8));
  const whole = page.getByTestId("result-whole");
  expect(await whole.textContent()).toContain("logits");
  expect(await page.getByTestId("whole-output-error").count()).toBe(0);
  await page.screenshot({ path: screenshotPath("whole-output.png"), fullPage: true });
  await page.context().close();
});

test("a wallet without payment tokens is told so before anything is signed", async () => {
  const page = await openApp(browser, env, env.poorSecretKey);
  expect(await page.getByTestId("token-balance").textContent()).toContain("0 tokens");
  await useModel(page, "digits.onnx");
  await draw(page, SEVEN);
  await page.getByRole("button", { name: "Review payment" }).click();
  const error = page.getByTestId("error");
  await error.waitFor();
  expect(await error.textContent()).toContain(
    "Not enough tokens: a digits.onnx request costs 0.01, and your wallet holds 0.",
  );
  expect(await page.getByTestId("review").count()).toBe(0);
  await page.screenshot({ path: screenshotPath("insufficient-tokens.png"), fullPage: true });
  await page.context().close();
});

test("a signature rejected in the wallet pays nothing and says so", async () => {
  const page = await openApp(browser, env, env.richSecretKey);
  const before = await page.getByTestId("token-balance").textContent();
  await useModel(page, "digits.onnx");
  await draw(page, SEVEN);
  await page.getByRole("button", { name: "Review payment" }).click();
  await page.getByTestId("review").waitFor();
  await page.evaluate(() => {
    window.sibylTestWallet!.rejectNext = true;
  });
  await page.getByRole("button", { name: "Sign and pay" }).click();
  const error = page.getByTestId("error");
  await error.waitFor();
  expect(await error.textContent()).toContain("You rejected the signature in your wallet.");
  expect(await page.getByTestId("request-view").count()).toBe(0);
  expect(await page.getByTestId("token-balance").textContent()).toBe(before);
  await page.context().close();
});

test("a pending request is cancelled and its fee comes back", async () => {
  const page = await openApp(browser, env, env.richSecretKey);
  const before = (await page.getByTestId("token-balance").textContent())!;
  // No node serves conv_small, so its requests wait for an operator.
  await useModel(page, "conv_small.onnx");
  await page.getByRole("tab", { name: "Paste JSON" }).click();
  await page.getByTestId("json-input").fill(JSON.stringify(fixtureCase("conv_small").input));
  await page.getByRole("button", { name: "Review payment" }).click();
  await page.getByRole("button", { name: "Sign and pay" }).click();
  await stageReached(page, "pending");
  expect(await page.getByTestId("stage").textContent()).toContain("Waiting for an operator");
  await expect.poll(() => page.getByTestId("token-balance").textContent(), { timeout: 15_000 }).not.toBe(before);
  await page.getByRole("button", { name: "Cancel request (refund)" }).click();
  const review = page.getByTestId("review");
  expect(await review.getByTestId("review-instructions").textContent()).toContain("cancel_request");
  await page.getByRole("button", { name: "Cancel the request" }).click();
  await stageReached(page, "closed");
  await expect.poll(() => page.getByTestId("token-balance").textContent(), { timeout: 15_000 }).toBe(before);
  await page.context().close();
});

test("a challenge signed after the window closed is refused by its IDL error name", async () => {
  const page = await openApp(browser, env, env.richSecretKey);
  await reviewChallengeOfASeven(page);
  const review = page.getByTestId("review");
  expect(await review.textContent()).toContain("Challenge bond (lost if the result stands)1 tokens");
  expect(await review.getByTestId("review-instructions").textContent()).toContain("challenge");
  // The user hesitates past the window: the crank finalizes the result first.
  await stageReached(page, "finalized");
  await page.getByRole("button", { name: "Sign and post the bond" }).click();
  const error = page.getByTestId("error");
  await error.waitFor();
  expect(await error.textContent()).toContain("The Sibyl program refused the transaction: RequestNotCommitted.");
  expect(await error.textContent()).toContain("The request has no committed result awaiting its window");
  await page.context().close();
});

test("a payment signed after its blockhash expired is explained, and nothing is paid", async () => {
  const page = await openApp(browser, env, env.richSecretKey);
  const before = await page.getByTestId("token-balance").textContent();
  await reviewDigitPayment(page);
  // A blockhash is good for 150 slots; wait past that with the review open.
  const connection = new Connection(env.rpc, "confirmed");
  const reviewedAt = await connection.getSlot();
  while ((await connection.getSlot()) < reviewedAt + 155) await new Promise((r) => setTimeout(r, 500));
  await page.getByRole("button", { name: "Sign and pay" }).click();
  const error = page.getByTestId("error");
  await error.waitFor();
  expect(await error.textContent()).toContain("The transaction expired before it landed: its blockhash is too old.");
  expect(await page.getByTestId("token-balance").textContent()).toBe(before);
  await page.context().close();
});
