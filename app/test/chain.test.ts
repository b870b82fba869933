// The transactions the app asks a wallet to sign, built against a stand-in
// for the three RPC calls a review makes (the browser tests use a real
// localnet; here the point is what goes into each transaction).
import { createHash } from "node:crypto";
import { BorshInstructionCoder } from "@coral-xyz/anchor";
import BN from "bn.js";
import { Keypair, PublicKey, type Connection } from "@solana/web3.js";
import { describe, expect, test } from "vitest";
import {
  ATA_PROGRAM_ID,
  CHUNK_BYTES,
  FIRST_CHUNK_BYTES,
  DISPUTE_FIXED_BYTES,
  REQUEST_FIXED_BYTES,
  associatedTokenAddress,
  createAssociatedTokenAccountIdempotent,
  freshNonce,
  modelName,
  planCancel,
  planChallenge,
  planRequest,
  ruleText,
  type Balances,
  type ModelRow,
  type Protocol,
} from "../src/app/chain.js";
import { InsufficientTokensError } from "../src/app/errors.js";
import { makeProgram, TOKEN_PROGRAM_ID, type InferenceRequestAccount } from "../src/sibyl/client.js";
import { requestPda } from "../src/sibyl/pda.js";

const rentOf = (bytes: number) => (bytes + 128) * 6960;
const calls: string[] = [];
const connection = {
  rpcEndpoint: "http://stand-in",
  getLatestBlockhash: async () => {
    calls.push("getLatestBlockhash");
    return { blockhash: Keypair.generate().publicKey.toBase58(), lastValidBlockHeight: 1000 };
  },
  getFeeForMessage: async () => ({ context: { slot: 1 }, value: 5000 }),
  getMinimumBalanceForRentExemption: async (bytes: number) => rentOf(bytes),
} as unknown as Connection;
const wallet = Keypair.generate();
const program = makeProgram(connection, {
  publicKey: wallet.publicKey,
  signTransaction: async (tx: unknown) => tx,
  signAllTransactions: async (txs: unknown) => txs,
} as never);

const protocol: Protocol = {
  mint: Keypair.generate().publicKey,
  decimals: 6,
  tokenProgram: TOKEN_PROGRAM_ID,
  bondVault: Keypair.generate().publicKey,
  challengeBond: 1_000_000n,
  challengeWindowSlots: 25,
  paused: false,
};
const model = {
  address: Keypair.generate().publicKey,
  name: "digits.onnx",
  account: { price: new BN(10_000), maxOutputBytes: 81 },
  open: { pending: 0, committed: 0, challenged: 0, settled: 0 },
} as unknown as ModelRow;
const balances = (tokens: bigint, exists = true): Balances => ({
  lamports: 10n ** 10n,
  tokens,
  tokenAccount: associatedTokenAddress(wallet.publicKey, protocol.mint),
  tokenAccountExists: exists,
});

describe("paying for a request", () => {
  test("a small input is one request_inference; fee, network fee and deposits are all shown", async () => {
    const input = new Uint8Array(278).fill(7);
    const plan = await planRequest(program, protocol, model, input, wallet.publicKey, balances(5_000_000n), 42n);
    expect(plan.request).toEqual(requestPda(wallet.publicKey, 42n));
    expect(plan.instructions).toEqual([{ program: "Sibyl", name: "request_inference" }]);
    expect(plan.tokens).toBe(10_000n);
    expect(plan.networkFeeLamports).toBe(5000n);
    expect(plan.depositLamports).toBe(BigInt(rentOf(REQUEST_FIXED_BYTES + 278 + 81) + rentOf(165)));
    const ix = plan.transactions[0]!.instructions[0]!;
    const decoded = new BorshInstructionCoder(program.idl).decode(Buffer.from(ix.data))!;
    const data = decoded.data as { args: { nonce: BN; fee: BN; inputLen: number; input: Buffer } };
    expect(decoded.name).toBe("requestInference");
    expect(data.args.nonce.toString()).toBe("42");
    expect(data.args.fee.toString()).toBe("10000");
    expect(data.args.inputLen).toBe(278);
    expect(Buffer.from(data.args.input)).toEqual(Buffer.from(input));
    expect(plan.transactions[0]!.feePayer).toEqual(wallet.publicKey);
  });

  test("a large input follows in write_input transactions", async () => {
    const input = new Uint8Array(FIRST_CHUNK_BYTES + CHUNK_BYTES + 10);
    const plan = await planRequest(program, protocol, model, input, wallet.publicKey, balances(5_000_000n), 43n);
    expect(plan.instructions.map((i) => i.name)).toEqual(["request_inference", "write_input", "write_input"]);
    expect(plan.transactions).toHaveLength(3);
    expect(plan.networkFeeLamports).toBe(15_000n);
    for (const size of plan.sizeBytes) expect(size).toBeLessThanOrEqual(1232);
  });

  test("too few tokens stops it before the cluster is asked anything", async () => {
    calls.length = 0;
    const attempt = planRequest(program, protocol, model, new Uint8Array(10), wallet.publicKey, balances(9_999n));
    await expect(attempt).rejects.toBeInstanceOf(InsufficientTokensError);
    await expect(attempt).rejects.toMatchObject({ needed: 10_000n, held: 9_999n });
    expect(calls).toEqual([]);
  });

  test("nonces differ and grow with time", () => {
    expect(freshNonce(1000, 0.5)).toBeLessThan(freshNonce(1001, 0));
    expect(freshNonce(1000, 0.1)).not.toBe(freshNonce(1000, 0.2));
  });
});

describe("challenge and cancel", () => {
  const requestAddress = Keypair.generate().publicKey;
  const request = {
    operator: Keypair.generate().publicKey,
    model: Keypair.generate().publicKey,
    sequence: new BN(1),
    maxOutputBytes: 81,
    outputViews: [],
  } as unknown as InferenceRequestAccount;

  test("a challenge posts the bond and opens the dispute (rent shown)", async () => {
    const review = await planChallenge(program, protocol, requestAddress, request, Uint8Array.of(1, 2), wallet.publicKey, balances(2_000_000n));
    expect(review.instructions).toEqual([{ program: "Sibyl", name: "challenge" }]);
    expect(review.tokens).toBe(1_000_000n);
    expect(review.depositLamports).toBe(BigInt(rentOf(DISPUTE_FIXED_BYTES + 81)));
  });

  test("a challenge claims the SHA-256 of its output as the whole output's (every view whole)", async () => {
    const output = Uint8Array.of(1, 2, 3);
    const review = await planChallenge(program, protocol, requestAddress, request, output, wallet.publicKey, balances(2_000_000n));
    const ix = review.transactions[0]!.instructions[0]!;
    const decoded = new BorshInstructionCoder(program.idl).decode(Buffer.from(ix.data))!;
    const data = decoded.data as { output: Buffer; wholeOutputSha256: number[] };
    expect(Buffer.from(data.output)).toEqual(Buffer.from(output));
    expect(Buffer.from(data.wholeOutputSha256).toString("hex")).toBe(createHash("sha256").update(output).digest("hex"));
    const whole = { ...request, outputViews: [{ whole: {} }] } as unknown as InferenceRequestAccount;
    await expect(planChallenge(program, protocol, requestAddress, whole, output, wallet.publicKey, balances(2_000_000n))).resolves.toBeTruthy();
  });

  test("a model whose result is a view of its output is challenged with the CLI, not the app", async () => {
    const topK = { ...request, outputViews: [{ topK: { k: 5, scale: 65536 } }] } as unknown as InferenceRequestAccount;
    await expect(
      planChallenge(program, protocol, requestAddress, topK, Uint8Array.of(1), wallet.publicKey, balances(2_000_000n)),
    ).rejects.toThrow(/only models whose outputs are all on chain.*sibyl challenge/);
  });

  test("a referee model's commitment is disputed by a watching node's game, not by the app", async () => {
    const refereed = { ...request, traceRoot: Array(32).fill(7) } as unknown as InferenceRequestAccount;
    await expect(
      planChallenge(program, protocol, requestAddress, refereed, Uint8Array.of(1), wallet.publicKey, balances(2_000_000n)),
    ).rejects.toThrow(/on-chain referee.*opens a game/);
  });

  test("a challenger without a token account gets one first; without the bond, nothing", async () => {
    const review = await planChallenge(program, protocol, requestAddress, request, Uint8Array.of(1), wallet.publicKey, {
      ...balances(2_000_000n, false),
    });
    expect(review.instructions.map((i) => i.name)).toEqual(["create_idempotent", "challenge"]);
    await expect(
      planChallenge(program, protocol, requestAddress, request, Uint8Array.of(1), wallet.publicKey, balances(999_999n)),
    ).rejects.toThrow("not enough tokens");
  });

  test("a cancel pays nothing but the network fee", async () => {
    const review = await planCancel(program, protocol, requestAddress, wallet.publicKey, balances(0n));
    expect(review.instructions).toEqual([{ program: "Sibyl", name: "cancel_request" }]);
    expect(review.tokens).toBe(0n);
    expect(review.depositLamports).toBe(0n);
  });
});

test("the associated token account instruction creates idempotently", () => {
  const owner = Keypair.generate().publicKey;
  const ix = createAssociatedTokenAccountIdempotent(owner, owner, protocol.mint);
  expect(ix.programId).toEqual(ATA_PROGRAM_ID);
  expect([...ix.data]).toEqual([1]);
  expect(ix.keys.map((k) => [k.isSigner, k.isWritable])).toEqual([
    [true, true],
    [false, true],
    [false, false],
    [false, false],
    [false, false],
    [false, false],
  ]);
  expect(ix.keys[1]!.pubkey).toEqual(
    PublicKey.findProgramAddressSync([owner.toBytes(), TOKEN_PROGRAM_ID.toBytes(), protocol.mint.toBytes()], ATA_PROGRAM_ID)[0],
  );
});

test("models are named by their file and rules in words", () => {
  const address = Keypair.generate().publicKey;
  expect(modelName("file://models/digits.onnx", address)).toBe("digits.onnx");
  expect(modelName("", address)).toBe(address.toBase58().slice(0, 8));
  expect(ruleText({ exact: {} })).toBe("exact (byte for byte)");
  expect(ruleText({ topK: { k: 1, tieMargin: Math.fround(0.0001) } })).toBe("same top-1 class (ties within 0.0001)");
  expect(ruleText({ topK: { k: 3, tieMargin: 0 } })).toBe("same top-3 classes (ties within 0)");
  expect(ruleText({ tolerance: { abs: 0.00001, rel: 0.0001 } })).toBe("within 0.00001 + 0.0001·|x|");
  expect(ruleText({ tolerance: { abs: Math.fround(0.00001), rel: Math.fround(0.0001) } })).toBe("within 0.00001 + 0.0001·|x|");
});
