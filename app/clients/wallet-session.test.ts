// A wallet session against the Sibyl localnet through Solana Kit: the
// TypeScript twin of `tests/clients/python/wallet_session.py`.
//
// Drives `sibyl-demo --serve` (started by `clients/cluster.ts`) only through
// libraries the project does not own: `@solana/kit` (RPC, PubSub, keys,
// messages, transactions, codecs) and the `@solana-program/*` clients (System,
// SPL Token and Associated Token, Compute Budget). The Sibyl request is built
// from `idl/sibyl.json`, as a TypeScript integrator without the SDK would.
//
// The session: cluster facts, an airdrop, a SOL transfer, an associated token
// account and a token transfer (previewed by simulation first), a delegate,
// the wallet's token accounts, priority fees, the block holding the transfer,
// then a Sibyl request paid with the token and followed to its final result,
// which must be the output Python onnxruntime recorded for the same input.
// Each step prints one line; the steps run in order and share their state.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { getSetComputeUnitLimitInstruction, getSetComputeUnitPriceInstruction } from "@solana-program/compute-budget";
import { getTransferSolInstruction } from "@solana-program/system";
import {
  findAssociatedTokenPda,
  getApproveInstruction,
  getCreateAssociatedTokenIdempotentInstruction,
  getTransferCheckedInstruction,
  TOKEN_PROGRAM_ADDRESS,
} from "@solana-program/token";
import {
  AccountRole,
  address,
  addEncoderSizePrefix,
  airdropFactory,
  appendTransactionMessageInstructions,
  assertIsSendableTransaction,
  assertIsTransactionWithBlockhashLifetime,
  createKeyPairSignerFromPrivateKeyBytes,
  createDefaultRpcTransport,
  createSolanaRpcFromTransport,
  createSolanaRpcSubscriptions,
  createTransactionMessage,
  generateKeyPairSigner,
  getAddressDecoder,
  getAddressEncoder,
  getBase16Decoder,
  getBase16Encoder,
  getBase64Decoder,
  getBase64EncodedWireTransaction,
  getBase64Encoder,
  getBytesEncoder,
  getConstantEncoder,
  getProgramDerivedAddress,
  getSignatureFromTransaction,
  getStructEncoder,
  getU32Encoder,
  getU64Decoder,
  getU64Encoder,
  isSolanaError,
  lamports,
  pipe,
  sendAndConfirmTransactionFactory,
  setTransactionMessageFeePayerSigner,
  setTransactionMessageLifetimeUsingBlockhash,
  signTransactionMessageWithSigners,
  SOLANA_ERROR__JSON_RPC__SERVER_ERROR_BLOCK_NOT_AVAILABLE,
  type AccountMeta,
  type AccountSignerMeta,
  type Address,
  type Instruction,
  type KeyPairSigner,
  type ReadonlyUint8Array,
  type Signature,
  type TransactionMessageBytesBase64,
  type TransactionSigner,
} from "@solana/kit";
import { afterAll, describe, expect, inject, test } from "vitest";

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const LAMPORTS_PER_SOL = 1_000_000_000n;
const FINAL_TIMEOUT_MS = 180_000;
const BLOCK_TIMEOUT_MS = 30_000;
const POLL_MS = 250;

function step(name: string, detail: string): void {
  console.log(`kit: ok   ${name.padEnd(28)} ${detail}`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const short = (text: string) => `${text.slice(0, 8)}…`;

/** Renders a value (bigints included) for a failure message. */
function show(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? `${v}n` : v));
}

/** `value`, which must be present. */
function present<T>(value: T | null | undefined, what: string): T {
  expect(value, `${what} is missing`).not.toBeNull();
  expect(value, `${what} is missing`).not.toBeUndefined();
  return value as T;
}

/** The bytes of an account read with `encoding: "base64"`. */
function accountBytes(data: readonly [string, "base64"]): ReadonlyUint8Array {
  return getBase64Encoder().encode(data[0]);
}

const hex = (bytes: ReadonlyUint8Array) => getBase16Decoder().decode(bytes);

// --- the Sibyl program, from its IDL -----------------------------------------

type IdlType = string | { array: [IdlType, number] } | { defined: { name: string } } | Record<string, unknown>;
type IdlField = { name: string; type: IdlType };
type IdlTypeDef = {
  name: string;
  type: { kind: "struct"; fields: IdlField[] } | { kind: "enum"; variants: { name: string; fields?: unknown }[] };
};
type IdlAccountItem = { name: string; writable?: boolean; signer?: boolean };
type IdlInstruction = { name: string; discriminator: number[]; accounts: IdlAccountItem[] };
type IdlJson = { address: string; instructions: IdlInstruction[]; types: IdlTypeDef[] };

/**
 * What this session needs of `idl/sibyl.json`: discriminators, account
 * order, PDA seeds, and the offsets of fixed-size account fields.
 */
class Idl {
  static readonly SIZES: Record<string, number> = {
    bool: 1, u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, u64: 8, i64: 8, pubkey: 32,
  };

  readonly program: Address;
  private readonly idl: IdlJson;
  private readonly types: Map<string, IdlTypeDef["type"]>;

  constructor(path: string) {
    this.idl = JSON.parse(readFileSync(path, "utf8")) as IdlJson;
    this.program = address(this.idl.address);
    this.types = new Map(this.idl.types.map((t) => [t.name, t.type]));
  }

  instruction(name: string): IdlInstruction {
    return present(this.idl.instructions.find((ix) => ix.name === name), `instruction ${name} in the IDL`);
  }

  typeDef(name: string): IdlTypeDef["type"] {
    return present(this.types.get(name), `type ${name} in the IDL`);
  }

  async pda(seeds: (ReadonlyUint8Array | string)[]): Promise<Address> {
    const [pda] = await getProgramDerivedAddress({ programAddress: this.program, seeds });
    return pda;
  }

  /** The Borsh size of a fixed-size type; undefined if it varies. */
  size(ty: IdlType): number | undefined {
    if (typeof ty === "string") return Idl.SIZES[ty];
    if ("array" in ty && Array.isArray(ty.array)) {
      const [inner, count] = ty.array as [IdlType, number];
      const innerSize = this.size(inner);
      return innerSize === undefined ? undefined : innerSize * count;
    }
    if ("defined" in ty) {
      const defined = this.typeDef((ty.defined as { name: string }).name);
      if (defined.kind === "enum" && defined.variants.every((v) => v.fields === undefined)) return 1;
    }
    return undefined;
  }

  /** Where `field` of `account` starts (after the 8-byte discriminator). */
  fieldOffset(account: string, field: string): number {
    const def = this.typeDef(account);
    if (def.kind !== "struct") throw new Error(`${account} is not a struct`);
    let offset = 8;
    for (const f of def.fields) {
      if (f.name === field) return offset;
      const size = this.size(f.type);
      if (size === undefined) throw new Error(`${account}.${field} follows a field of variable size (${f.name})`);
      offset += size;
    }
    throw new Error(`${account} has no field ${field}`);
  }

  variants(name: string): string[] {
    const def = this.typeDef(name);
    if (def.kind !== "enum") throw new Error(`${name} is not an enum`);
    return def.variants.map((v) => v.name);
  }
}

/** RequestInferenceArgs: nonce, fee, input_len, input, then input_reference, callback, max_challenge_window_slots all None. */
const requestInferenceArgs = getStructEncoder([
  ["nonce", getU64Encoder()],
  ["fee", getU64Encoder()],
  ["inputLen", getU32Encoder()],
  ["input", addEncoderSizePrefix(getBytesEncoder(), getU32Encoder())],
  ["noOptions", getConstantEncoder(new Uint8Array([0, 0, 0]))],
]);

/** `request_inference` with the whole input inline and no callback. */
async function requestInference(
  idl: Idl,
  requester: TransactionSigner,
  requesterToken: Address,
  model: Address,
  mint: Address,
  nonce: bigint,
  fee: bigint,
  data: ReadonlyUint8Array,
): Promise<{ instruction: Instruction; request: Address }> {
  const spec = idl.instruction("request_inference");
  const request = await idl.pda(["request", getAddressEncoder().encode(requester.address), getU64Encoder().encode(nonce)]);
  const addresses: Record<string, Address> = {
    requester: requester.address,
    config: await idl.pda(["config"]),
    model,
    request,
    escrow: await idl.pda(["escrow", getAddressEncoder().encode(request)]),
    requester_token: requesterToken,
    mint,
    token_program: TOKEN_PROGRAM_ADDRESS,
    system_program: address("11111111111111111111111111111111"),
    event_authority: await idl.pda(["__event_authority"]),
    program: idl.program,
  };
  const accounts = spec.accounts.map((a): AccountMeta | AccountSignerMeta => {
    const at = present(addresses[a.name], `the address of request_inference's account ${a.name}`);
    if (a.signer) {
      expect(at, `request_inference's signer ${a.name} is the requester`).toBe(requester.address);
      return { address: at, role: a.writable ? AccountRole.WRITABLE_SIGNER : AccountRole.READONLY_SIGNER, signer: requester };
    }
    return { address: at, role: a.writable ? AccountRole.WRITABLE : AccountRole.READONLY };
  });
  const args = requestInferenceArgs.encode({ nonce, fee, inputLen: data.length, input: data, noOptions: undefined });
  const instructionData = new Uint8Array([...spec.discriminator, ...args]);
  return { instruction: { programAddress: idl.program, accounts, data: instructionData }, request };
}

// --- the session --------------------------------------------------------------

const env = inject("kit");
/** The JSON-RPC methods the session called, for docs/localnet.md's table. */
const called = new Set<string>();
const transport = createDefaultRpcTransport({ url: env.rpc });
const recordingTransport = ((config: Parameters<typeof transport>[0]) => {
  called.add((config.payload as { method: string }).method);
  return transport(config);
}) as typeof transport;
const rpc = createSolanaRpcFromTransport(recordingTransport);
const rpcSubscriptions = createSolanaRpcSubscriptions(env.ws);
const sendAndConfirm = sendAndConfirmTransactionFactory({ rpc, rpcSubscriptions });
const mint = address(env.mint);
const idl = new Idl(join(ROOT, "idl", "sibyl.json"));

let alice: KeyPairSigner;
let quotedFee: bigint;
let bob: KeyPairSigner;
let aliceToken: Address;
let bobToken: Address;
let decimals: number;
let price: bigint;
let tokenSignature: Signature;

async function ata(owner: Address): Promise<Address> {
  const [pda] = await findAssociatedTokenPda({ owner, mint, tokenProgram: TOKEN_PROGRAM_ADDRESS });
  return pda;
}

/** A message of `instructions` paid by `feePayer`, signed by every signer its instructions name. */
async function signed(feePayer: TransactionSigner, instructions: readonly Instruction[], version: "legacy" | 0) {
  const { value: blockhash } = await rpc.getLatestBlockhash().send();
  const message = pipe(
    createTransactionMessage({ version }),
    (m) => setTransactionMessageFeePayerSigner(feePayer, m),
    (m) => setTransactionMessageLifetimeUsingBlockhash(blockhash, m),
    (m) => appendTransactionMessageInstructions(instructions, m),
  );
  const transaction = await signTransactionMessageWithSigners(message);
  assertIsSendableTransaction(transaction);
  assertIsTransactionWithBlockhashLifetime(transaction);
  return transaction;
}

/** Sends and confirms (signatureSubscribe over PubSub) at `confirmed`. */
async function send(feePayer: TransactionSigner, instructions: readonly Instruction[], version: "legacy" | 0 = "legacy"): Promise<Signature> {
  const transaction = await signed(feePayer, instructions, version);
  const signature = getSignatureFromTransaction(transaction);
  await sendAndConfirm(transaction, { commitment: "confirmed" });
  const { value: statuses } = await rpc.getSignatureStatuses([signature]).send();
  const status = statuses[0];
  expect(status, `${signature} has no status after its confirmation`).toBeTruthy();
  expect(status?.err ?? null, `${signature} failed: ${show(status)}`).toBeNull();
  return signature;
}

async function tokenAmount(account: Address): Promise<bigint> {
  const { value } = await rpc.getTokenAccountBalance(account).send();
  return BigInt(value.amount);
}

/**
 * One step of the session: a test that runs only if every step before it
 * passed (like the Python suite, the session stops at its first failure).
 */
let failedStep: string | undefined;
let stepsPassed = 0;
let stepsDeclared = 0;
const sessionStarted = Date.now();
function sessionStep(name: string, body: () => Promise<void>): void {
  stepsDeclared += 1;
  test(name, async (context) => {
    if (failedStep !== undefined) context.skip(`the step "${failedStep}" failed`);
    try {
      await body();
      stepsPassed += 1;
    } catch (err) {
      failedStep = name;
      throw err;
    }
  });
}

afterAll(() => {
  if (stepsPassed === stepsDeclared) {
    console.log(`kit: wallet session passed in ${((Date.now() - sessionStarted) / 1000).toFixed(1)} s`);
    console.log(`kit: JSON-RPC methods called (${called.size}): ${[...called].sort().join(", ")}`);
  }
});

describe("wallet session through @solana/kit", () => {
  sessionStep("cluster", async () => {
    alice = await createKeyPairSignerFromPrivateKeyBytes(new Uint8Array(env.aliceSeed));
    const version = await rpc.getVersion().send();
    const genesis = await rpc.getGenesisHash().send();
    const { identity } = await rpc.getIdentity().send();
    const nodes = await rpc.getClusterNodes().send();
    expect(nodes.length, `getClusterNodes: ${show(nodes)}`).toBeGreaterThan(0);
    expect(nodes[0]?.pubkey, `getClusterNodes' node is the identity ${identity}: ${show(nodes)}`).toBe(identity);
    expect(nodes[0]?.rpc, `getClusterNodes' node has its RPC address: ${show(nodes)}`).toBeTruthy();
    const votes = await rpc.getVoteAccounts().send();
    expect(votes.current.length, `getVoteAccounts: one current vote account: ${show(votes)}`).toBe(1);
    expect(votes.current[0]?.nodePubkey, `getVoteAccounts: the vote account's node is the identity: ${show(votes)}`).toBe(identity);
    const { value: supply } = await rpc.getSupply().send();
    expect(supply.total, `getSupply: total = circulating + nonCirculating: ${show(supply)}`).toBe(supply.circulating + supply.nonCirculating);
    const first = await rpc.getFirstAvailableBlock().send();
    const minimum = await rpc.minimumLedgerSlot().send();
    const samples = await rpc.getRecentPerformanceSamples(5).send();
    const epoch = await rpc.getEpochInfo().send();
    const health = await rpc.getHealth().send();
    expect(health, "getHealth").toBe("ok");
    step(
      "cluster",
      `solana-core ${version["solana-core"]}, genesis ${short(genesis)}, identity ${short(identity)}, ` +
        `slot ${epoch.absoluteSlot}, ${(supply.total / LAMPORTS_PER_SOL).toLocaleString("en-US")} SOL supply, first block ${first}, ` +
        `ledger from ${minimum}, ${samples.length} performance samples, health ${health}`,
    );
  });

  sessionStep("airdrop", async () => {
    bob = await generateKeyPairSigner();
    const airdrop = airdropFactory({ rpc, rpcSubscriptions });
    const signature = await airdrop({ recipientAddress: bob.address, lamports: lamports(2n * LAMPORTS_PER_SOL), commitment: "confirmed" });
    const { value: balance } = await rpc.getBalance(bob.address).send();
    expect(balance, `bob has ${balance} lamports after an airdrop of 2 SOL`).toBe(2n * LAMPORTS_PER_SOL);
    step("airdrop", `2 SOL to a new wallet ${short(bob.address)} (${signature})`);
  });

  sessionStep("sol transfer (v0)", async () => {
    const amount = LAMPORTS_PER_SOL / 4n;
    const { value: before } = await rpc.getBalance(alice.address).send();
    const signature = await send(alice, [getTransferSolInstruction({ source: alice, destination: bob.address, amount: lamports(amount) })], 0);
    const { value: after } = await rpc.getBalance(alice.address).send();
    const transaction = present(await rpc.getTransaction(signature, { encoding: "json", maxSupportedTransactionVersion: 0 }).send(), `getTransaction ${signature}`);
    expect(transaction.version, `getTransaction's version of a v0 transaction`).toBe(0);
    const fee = present(transaction.meta, `getTransaction ${signature} meta`).fee;
    expect(before - after, `alice paid the amount ${amount} and the fee ${fee} (before ${before}, after ${after})`).toBe(amount + fee);
    step("sol transfer (v0)", `0.25 SOL to bob, fee ${fee} lamports`);
  });

  sessionStep("priority fees", async () => {
    aliceToken = await ata(alice.address);
    const fees = await rpc.getRecentPrioritizationFees([aliceToken]).send();
    expect(fees.length, `getRecentPrioritizationFees: ${show(fees)}`).toBeGreaterThan(0);
    const highest = fees.reduce((max, f) => (f.prioritizationFee > max ? f.prioritizationFee : max), 0n);
    price = highest > 1n ? highest : 1n;
    step("priority fees", `${fees.length} recent slots, highest ${highest} µlamports/CU; paying ${price}`);
  });

  sessionStep("simulation preview and token transfer", async () => {
    bobToken = await ata(bob.address);
    decimals = (await rpc.getTokenSupply(mint).send()).value.decimals;
    const amount = 5n * 10n ** BigInt(decimals);
    const tokenTransfer: Instruction[] = [
      getSetComputeUnitLimitInstruction({ units: 60_000 }),
      getSetComputeUnitPriceInstruction({ microLamports: price }),
      getCreateAssociatedTokenIdempotentInstruction({ payer: bob, ata: bobToken, owner: bob.address, mint }),
      getTransferCheckedInstruction({ source: aliceToken, mint, destination: bobToken, authority: alice, amount, decimals }),
    ];

    // The wallet's preview: simulate with a fresh blockhash and read the
    // accounts as they would be afterwards.
    const wire = getBase64EncodedWireTransaction(await signed(bob, tokenTransfer, "legacy"));
    const { value: preview } = await rpc
      .simulateTransaction(wire, {
        encoding: "base64",
        replaceRecentBlockhash: true,
        accounts: { encoding: "jsonParsed", addresses: [bobToken, aliceToken] },
      })
      .send();
    expect(preview.err, `simulation failed: ${show(preview.err)} ${show(preview.logs)}`).toBeNull();
    expect(preview.accounts.length, `simulateTransaction returns one account per address asked: ${show(preview.accounts)}`).toBe(2);
    const bobAfter = present(preview.accounts[0], "the simulated account of bob's token account");
    expect(typeof bobAfter.data === "object" && "parsed" in bobAfter.data, `bob's simulated account is jsonParsed: ${show(bobAfter)}`).toBe(true);
    const parsed = (bobAfter.data as { parsed: { info?: { tokenAmount?: { uiAmountString?: string } } } }).parsed;
    const previewed = parsed.info?.tokenAmount?.uiAmountString;
    expect(previewed, `the preview shows bob's token account holding ${previewed}: ${show(bobAfter)}`).toBe("5");
    const { value: verified } = await rpc.simulateTransaction(wire, { encoding: "base64", sigVerify: true }).send();
    expect(verified.err, `a signed simulation passes sigVerify: ${show(verified.err)} ${show(verified.logs)}`).toBeNull();
    // The fee a wallet shows before signing.
    const signedTransfer = await signed(bob, tokenTransfer, "legacy");
    const message = getBase64Decoder().decode(signedTransfer.messageBytes) as TransactionMessageBytesBase64;
    quotedFee = present((await rpc.getFeeForMessage(message).send()).value, "getFeeForMessage of the token transfer");
    const { value: untouched } = await rpc.getAccountInfo(bobToken, { encoding: "base64" }).send();
    expect(untouched, `a simulation changes nothing: bob's token account exists: ${show(untouched)}`).toBeNull();
    step("simulation preview", `bob's token account would hold ${previewed} (replaceRecentBlockhash, jsonParsed accounts; sigVerify passes)`);

    tokenSignature = await send(bob, tokenTransfer);
    step("token transfer", `5 tokens alice → bob's new associated token account (${tokenSignature})`);
  });

  sessionStep("delegate and token accounts", async () => {
    await send(alice, [getApproveInstruction({ source: aliceToken, delegate: bob.address, owner: alice, amount: 10n ** BigInt(decimals) })]);

    const { value: byOwner } = await rpc.getTokenAccountsByOwner(bob.address, { mint }, { encoding: "jsonParsed" }).send();
    expect(byOwner.map((a) => a.pubkey), `bob's token accounts of the mint: ${show(byOwner)}`).toEqual([bobToken]);
    const info = present(byOwner[0], "bob's token account").account.data.parsed.info;
    expect(info.tokenAmount.uiAmountString, `bob's parsed token account: ${show(info)}`).toBe("5");
    expect(info.owner, `bob's parsed token account's owner: ${show(info)}`).toBe(bob.address);

    const { value: byProgram } = await rpc
      .getTokenAccountsByOwner(alice.address, { programId: TOKEN_PROGRAM_ADDRESS }, { encoding: "base64" })
      .send();
    expect(byProgram.map((a) => a.pubkey), `alice's token accounts by program id (base64): ${show(byProgram)}`).toEqual([aliceToken]);

    const { value: delegated } = await rpc.getTokenAccountsByDelegate(bob.address, { mint }, { encoding: "jsonParsed" }).send();
    expect(delegated.map((a) => a.pubkey), `token accounts bob is the delegate of: ${show(delegated)}`).toEqual([aliceToken]);

    const { value: balance } = await rpc.getTokenAccountBalance(bobToken).send();
    expect(balance.uiAmountString, `getTokenAccountBalance of bob's token account: ${show(balance)}`).toBe("5");
    const { value: largest } = await rpc.getTokenLargestAccounts(mint).send();
    expect(largest.map((a) => a.address), `bob among the largest holders: ${show(largest)}`).toContain(bobToken);
    const { value: total } = await rpc.getTokenSupply(mint).send();
    step(
      "token accounts",
      `bob: ${balance.uiAmountString} (${info.state}, owner checked); alice by program id; ` +
        `delegate lists alice's; ${largest.length} largest holders; supply ${total.uiAmountString}`,
    );
  });

  let slot: bigint;

  sessionStep("transaction (jsonParsed)", async () => {
    const transaction = present(
      await rpc.getTransaction(tokenSignature, { encoding: "jsonParsed", maxSupportedTransactionVersion: 0 }).send(),
      `getTransaction ${tokenSignature}`,
    );
    const kinds = transaction.transaction.message.instructions.map((ix) => ("parsed" in ix ? (ix.parsed as { type?: string }).type : undefined));
    expect(kinds, `parsed instructions: ${show(kinds)}`).toContain("transferChecked");
    const post = Object.fromEntries(
      (present(transaction.meta, "the token transfer's meta").postTokenBalances ?? []).map((b) => [b.owner, b.uiTokenAmount.uiAmountString]),
    );
    expect(post[bob.address], `post token balances: ${show(post)}`).toBe("5");
    const fee = present(transaction.meta, "the token transfer's meta").fee;
    expect(fee, `the fee charged is the fee getFeeForMessage quoted`).toBe(quotedFee);
    // The wallet's activity list and its balances in one call.
    const activity = await rpc.getSignaturesForAddress(bob.address, { limit: 10 }).send();
    expect(activity.map((entry) => entry.signature), `bob's activity: ${show(activity)}`).toContain(tokenSignature);
    const { value: both } = await rpc.getMultipleAccounts([bobToken, aliceToken], { encoding: "jsonParsed" }).send();
    expect(both.every((account) => account !== null && typeof account.data === "object" && "parsed" in account.data), `jsonParsed token accounts: ${show(both)}`).toBe(true);
    slot = transaction.slot;
    step(
      "transaction (jsonParsed)",
      `instructions ${show(kinds)}; post token balances ${show(post)}; fee ${fee} as quoted; ${activity.length} entries in bob's activity`,
    );
  });

  sessionStep("block", async () => {
    // A validator serves no block before its slot is complete: "Block not
    // available for slot N" until then.
    const deadline = Date.now() + BLOCK_TIMEOUT_MS;
    let block;
    for (;;) {
      try {
        block = await rpc
          .getBlock(slot, { encoding: "jsonParsed", maxSupportedTransactionVersion: 0, transactionDetails: "full", rewards: true })
          .send();
        break;
      } catch (err) {
        if (!isSolanaError(err, SOLANA_ERROR__JSON_RPC__SERVER_ERROR_BLOCK_NOT_AVAILABLE) || Date.now() > deadline) throw err;
        await sleep(100);
      }
    }
    block = present(block, `getBlock ${slot}`);
    const signatures = block.transactions.map((t) => t.transaction.signatures[0]);
    expect(signatures, `the block of slot ${slot} holds the transfer: ${show(signatures)}`).toContain(tokenSignature);

    const only = present(await rpc.getBlock(slot, { transactionDetails: "signatures", maxSupportedTransactionVersion: 0 }).send(), "signatures block");
    expect(only.signatures, `getBlock transactionDetails "signatures": ${show(only.signatures)}`).toContain(tokenSignature);
    expect("transactions" in only, `getBlock transactionDetails "signatures" has no transactions field`).toBe(false);
    const none = present(await rpc.getBlock(slot, { transactionDetails: "none", maxSupportedTransactionVersion: 0 }).send(), "bare block");
    expect("transactions" in none || "signatures" in none, `getBlock transactionDetails "none" has neither transactions nor signatures: ${show(Object.keys(none))}`).toBe(false);
    expect(none.blockhash, `getBlock transactionDetails "none" has the block's hash`).toBe(block.blockhash);
    const raw = present(await rpc.getBlock(slot, { encoding: "base64", maxSupportedTransactionVersion: 0 }).send(), "base64 block");
    expect(raw.transactions.length, "the base64 block holds as many transactions as the jsonParsed one").toBe(block.transactions.length);

    expect(Array.isArray(block.rewards), `getBlock with rewards: true has a rewards list: ${show(block.rewards)}`).toBe(true);
    const blocks = await rpc.getBlocks(slot >= 2n ? slot - 2n : 0n, slot).send();
    expect(blocks, `getBlocks(${slot - 2n}, ${slot}): ${show(blocks)}`).toContain(slot);
    const limited = await rpc.getBlocksWithLimit(slot, 1).send();
    expect(limited, `getBlocksWithLimit(${slot}, 1): ${show(limited)}`).toEqual([slot]);
    const blockTime = await rpc.getBlockTime(slot).send();
    expect(blockTime, `getBlockTime(${slot}) is the block's blockTime ${block.blockTime}`).toBe(block.blockTime);
    step(
      "block",
      `slot ${slot} (height ${block.blockHeight}, parent ${block.parentSlot}) holds the transfer among ` +
        `${block.transactions.length} transactions; ${block.rewards.length} rewards; blocks [${blocks.join(", ")}]`,
    );
  });

  let request: Address;
  let digitCase: { input_encoding: string; output_hash: string; label: number; predicted: number };

  sessionStep("sibyl request", async () => {
    const model = address(present(env.models.find((m) => m.name === "digits"), "the digits model in the ready line").address);
    const fixtures = JSON.parse(readFileSync(join(ROOT, "models", "fixtures.json"), "utf8")) as {
      fixtures: { name: string; cases: (typeof digitCase)[] }[];
    };
    digitCase = present(present(fixtures.fixtures.find((f) => f.name === "digits"), "the digits fixture").cases[0], "digits case 0");
    const input = getBase16Encoder().encode(digitCase.input_encoding);
    const modelAccount = present((await rpc.getAccountInfo(model, { encoding: "base64" }).send()).value, `the model account ${model}`);
    expect(modelAccount.owner, "the model account is the Sibyl program's").toBe(idl.program);
    const modelPrice = getU64Decoder().decode(accountBytes(modelAccount.data), idl.fieldOffset("Model", "price"));
    const tokensBefore = await tokenAmount(bobToken);
    const nonce = BigInt(Math.floor(Date.now() / 1000));
    const built = await requestInference(idl, bob, bobToken, model, mint, nonce, modelPrice, input);
    request = built.request;
    const signature = await send(bob, [getSetComputeUnitLimitInstruction({ units: 400_000 }), built.instruction]);
    const tokensAfter = await tokenAmount(bobToken);
    expect(tokensBefore - tokensAfter, `the fee ${modelPrice} left the wallet (before ${tokensBefore}, after ${tokensAfter})`).toBe(modelPrice);
    step("sibyl request", `digit ${digitCase.label} on the digits model, fee ${modelPrice} base units escrowed (${signature})`);
  });

  sessionStep("sibyl final result", async () => {
    const statusAt = idl.fieldOffset("InferenceRequest", "status");
    const outputHashAt = idl.fieldOffset("InferenceRequest", "output_hash");
    const operatorAt = idl.fieldOffset("InferenceRequest", "operator");
    const names = idl.variants("RequestStatus");
    const finalized = names.indexOf("Finalized");
    expect(finalized, "RequestStatus has a Finalized variant").toBeGreaterThanOrEqual(0);
    const seen: string[] = [];
    const deadline = Date.now() + FINAL_TIMEOUT_MS;
    let data: ReadonlyUint8Array;
    for (;;) {
      const { value: account } = await rpc.getAccountInfo(request, { encoding: "base64" }).send();
      data = accountBytes(present(account, `the request account ${request}`).data);
      const status = present(data[statusAt], "the request's status byte");
      const name = names[status] ?? `unknown status ${status}`;
      if (seen[seen.length - 1] !== name) seen.push(name);
      if (status === finalized) break;
      expect(Date.now() < deadline, `not final in ${FINAL_TIMEOUT_MS / 1000} s: ${seen.join(" → ")}`).toBe(true);
      await sleep(POLL_MS);
    }
    const outputHash = hex(data.slice(outputHashAt, outputHashAt + 32));
    expect(outputHash, `the final output hash is onnxruntime's ${digitCase.output_hash}`).toBe(digitCase.output_hash);
    const operator = getAddressDecoder().decode(data.slice(operatorAt, operatorAt + 32));
    step(
      "sibyl final result",
      `${seen.join(" → ")}; committed by operator ${short(operator)}; output hash ${outputHash.slice(0, 16)}… = ` +
        `Python onnxruntime's (predicted ${digitCase.predicted})`,
    );
  });
});
