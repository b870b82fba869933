// Every error a user can cause, in the words the app shows.
import { WalletNotConnectedError, WalletSignTransactionError } from "@solana/wallet-adapter-base";
import { SendTransactionError, TransactionExpiredBlockheightExceededError } from "@solana/web3.js";
import { expect, test } from "vitest";
import { InsufficientTokensError, NoWalletError, plainError } from "../src/app/errors.js";
import { PROGRAM_ADDRESS, SIBYL_ERRORS } from "../src/generated/sibyl.js";

const codeOf = (name: string) => Number(Object.entries(SIBYL_ERRORS).find(([, e]) => e.name === name)![0]);
const simulationFailure = (logs: string[], detail: string) =>
  new SendTransactionError({ action: "simulate", signature: "", transactionMessage: `Transaction simulation failed: ${detail}`, logs });

test("no wallet", () => {
  expect(plainError(new NoWalletError()).title).toBe("Connect a wallet first.");
  expect(plainError(new WalletNotConnectedError()).title).toBe("Connect a wallet first.");
});

test("not enough tokens, before signing and from the token program", () => {
  expect(plainError(new InsufficientTokensError(10_000n, 2_500n, 6, "a digits.onnx request")).title).toBe(
    "Not enough tokens: a digits.onnx request costs 0.01, and your wallet holds 0.0025.",
  );
  const fromToken = simulationFailure(
    [
      `Program ${PROGRAM_ADDRESS} invoke [1]`,
      "Program TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA invoke [2]",
      "Program log: Error: insufficient funds",
      "Program TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA failed: custom program error: 0x1",
      `Program ${PROGRAM_ADDRESS} failed: custom program error: 0x1`,
    ],
    "Error processing Instruction 0: custom program error: 0x1",
  );
  expect(plainError(fromToken).title).toContain("Not enough tokens: the token program refused the payment");
});

test("a rejected signature", () => {
  expect(plainError(new WalletSignTransactionError("User rejected the request.")).title).toBe(
    "You rejected the signature in your wallet.",
  );
});

test("an expired blockhash, at send time and while confirming", () => {
  const title = "The transaction expired before it landed: its blockhash is too old.";
  expect(plainError(simulationFailure([], "Blockhash not found")).title).toBe(title);
  expect(plainError(new TransactionExpiredBlockheightExceededError("5x…")).title).toBe(title);
});

test("Sibyl's errors by their IDL names, from logs or a bare code", () => {
  const code = codeOf("RequestNotCommitted");
  const failure = simulationFailure(
    [
      `Program ${PROGRAM_ADDRESS} invoke [1]`,
      `Program log: AnchorError caused by account: request. Error Code: RequestNotCommitted. Error Number: ${code}. Error Message: The request has no committed result awaiting its window.`,
      `Program ${PROGRAM_ADDRESS} failed: custom program error: 0x${code.toString(16)}`,
    ],
    `Error processing Instruction 0: custom program error: 0x${code.toString(16)}`,
  );
  expect(plainError(failure)).toEqual({
    title: "The Sibyl program refused the transaction: RequestNotCommitted.",
    detail: "The request has no committed result awaiting its window",
    code: "RequestNotCommitted",
  });
  const bare = new Error(`failed to send transaction: custom program error: 0x${codeOf("ChallengeWindowClosed").toString(16)}`);
  expect(plainError(bare).code).toBe("ChallengeWindowClosed");
});

test("no SOL, an unreachable cluster, and anything else", () => {
  expect(plainError(simulationFailure([], "Attempt to debit an account but found no record of a prior credit.")).title).toContain(
    "too little SOL",
  );
  const local = { label: "Localnet", rpc: "http://127.0.0.1:8899" };
  const unreachable = plainError(new TypeError("Failed to fetch"), local);
  expect(unreachable.title).toBe("Cannot reach the cluster (Localnet, http://127.0.0.1:8899).");
  expect(unreachable.detail).toContain("make app");
  expect(plainError(new Error("odd"))).toEqual({ title: "Something went wrong.", detail: "odd" });
});
