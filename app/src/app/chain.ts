// What the app reads from and sends to the cluster: the protocol config,
// models, balances, and the transactions a wallet user signs (pay for a
// request, challenge a result, cancel a pending request).
import { BorshInstructionCoder } from "@coral-xyz/anchor";
import type BN from "bn.js";
import {
  PublicKey,
  SystemProgram,
  Transaction,
  TransactionInstruction,
  type Connection,
} from "@solana/web3.js";
import {
  TOKEN_PROGRAM_ID,
  buildRequestInference,
  type InferenceRequestAccount,
  type ModelAccount,
  type SibylProgram,
} from "../sibyl/client.js";
import { configPda, disputePda, escrowPda, requestPda } from "../sibyl/pda.js";
import { InsufficientTokensError } from "./errors.js";
import type { DTypeName, TensorSpec } from "../sibyl/encoding.js";
import { allWhole, sha256Hex } from "../sibyl/outputs.js";
import { IDL } from "../generated/sibyl.js";

const instructionCoder = new BorshInstructionCoder(IDL);

export const ATA_PROGRAM_ID = new PublicKey("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL");
/** Bytes of an SPL token account (the escrow). */
const TOKEN_ACCOUNT_BYTES = 165;
/**
 * `8 + InferenceRequest::INIT_SPACE` and `8 + Dispute::INIT_SPACE`: the
 * accounts' fixed parts (discriminator included); each also holds the
 * input and/or the largest output. The browser tests check the rent shown
 * against the lamports the request and dispute accounts really hold.
 */
export const REQUEST_FIXED_BYTES = 8 + 702;
export const DISPUTE_FIXED_BYTES = 8 + 358;
/** Input bytes that fit in `request_inference` beside its accounts (as `oracle::actions::request`). */
export const FIRST_CHUNK_BYTES = 480;
/** Input bytes per `write_input` transaction. */
export const CHUNK_BYTES = 800;

export const big = (v: BN | number | bigint): bigint => BigInt(v.toString());

export interface Protocol {
  mint: PublicKey;
  decimals: number;
  tokenProgram: PublicKey;
  bondVault: PublicKey;
  challengeBond: bigint;
  challengeWindowSlots: number;
  paused: boolean;
}

/** The protocol config and its payment mint; null when Sibyl is not initialized on this cluster. */
export async function loadProtocol(program: SibylProgram): Promise<Protocol | null> {
  const config = await program.account.config.fetchNullable(configPda(program.programId));
  if (!config) return null;
  const mintInfo = await program.provider.connection.getAccountInfo(config.paymentMint);
  if (!mintInfo) throw new Error(`the payment mint ${config.paymentMint.toBase58()} does not exist`);
  return {
    mint: config.paymentMint,
    // SPL mint layout: decimals at byte 44 (same in Token-2022).
    decimals: mintInfo.data[44] ?? 0,
    tokenProgram: mintInfo.owner,
    bondVault: config.bondVault,
    challengeBond: big(config.params.challengeBond),
    challengeWindowSlots: Number(config.params.challengeWindowSlots.toString()),
    paused: config.paused,
  };
}

export interface ModelRow {
  address: PublicKey;
  account: ModelAccount;
  /** The ONNX file's name from the model's URI ("digits.onnx"). */
  name: string;
  /** Requests whose account is still open, by stage. */
  open: { pending: number; committed: number; challenged: number; settled: number };
}

/** The IDL's enum value (`{ float32: {} }`) as its variant name. */
export function variant<T extends object>(value: T): keyof T & string {
  return Object.keys(value)[0] as keyof T & string;
}

/** A model's inputs or outputs as the encoding takes them. */
export function tensorSpecs(specs: ModelAccount["inputs"]): TensorSpec[] {
  return specs.map((spec) => ({
    name: spec.name,
    dtype: variant(spec.dtype) as DTypeName,
    shape: spec.shape.map((d) => Number(d.toString())),
  }));
}

/** `input_ids int64 [1, -1], attention_mask int64 [1, -1]`: specs in words. */
export function specsText(specs: readonly TensorSpec[]): string {
  return specs.map((spec) => `${spec.name} ${spec.dtype} [${spec.shape.join(" × ")}]`).join(", ");
}

/** "same top-1 class (ties within 0.0001)", "exact", "within 1e-5 + 1e-4·|x|": a model's comparison rule in words. */
export function ruleText(rule: ModelAccount["comparison"]): string {
  // Tolerances and margins are f32 on chain: 1e-5 arrives as 0.000009999999747…
  const short = (x: number) => String(Number(x.toPrecision(6)));
  if ("exact" in rule) return "exact (byte for byte)";
  if ("topK" in rule && rule.topK) {
    const { k, tieMargin } = rule.topK;
    return `same top-${k} class${k === 1 ? "" : "es"} (ties within ${short(tieMargin)})`;
  }
  if ("tolerance" in rule && rule.tolerance) {
    return `within ${short(rule.tolerance.abs)} + ${short(rule.tolerance.rel)}·|x|`;
  }
  return variant(rule);
}

export function modelName(uri: string, address: PublicKey): string {
  const last = uri.split(/[\\/]/).pop() ?? "";
  return last || address.toBase58().slice(0, 8);
}

/** Byte offsets in an `InferenceRequest` account (after the discriminator). */
const REQUEST_MODEL_OFFSET = 8 + 32;
const REQUEST_STATUS_OFFSET = 8 + 32 + 32 + 32 + 8;

/** Every registered model, with its open requests counted by stage. */
export async function loadModels(program: SibylProgram): Promise<ModelRow[]> {
  const models = await program.account.model.all();
  const discriminator = program.coder.accounts.memcmp("inferenceRequest");
  const statuses = await program.provider.connection.getProgramAccounts(program.programId, {
    filters: [{ memcmp: { offset: discriminator.offset ?? 0, bytes: discriminator.bytes! } }],
    dataSlice: { offset: REQUEST_MODEL_OFFSET, length: REQUEST_STATUS_OFFSET - REQUEST_MODEL_OFFSET + 1 },
  });
  const rows = models.map(({ publicKey, account }) => ({
    address: publicKey,
    account,
    name: modelName(account.uri, publicKey),
    open: { pending: 0, committed: 0, challenged: 0, settled: 0 },
  }));
  for (const { account } of statuses) {
    const model = new PublicKey(account.data.subarray(0, 32));
    const row = rows.find((r) => r.address.equals(model));
    if (!row) continue;
    const status = account.data[REQUEST_STATUS_OFFSET - REQUEST_MODEL_OFFSET];
    if (status === 0) row.open.pending++;
    else if (status === 1) row.open.committed++;
    else if (status === 2) row.open.challenged++;
    else row.open.settled++;
  }
  return rows.sort((a, b) => a.name.localeCompare(b.name));
}

export function associatedTokenAddress(owner: PublicKey, mint: PublicKey, tokenProgram = TOKEN_PROGRAM_ID): PublicKey {
  return PublicKey.findProgramAddressSync([owner.toBytes(), tokenProgram.toBytes(), mint.toBytes()], ATA_PROGRAM_ID)[0];
}

/** The Associated Token Account program's `CreateIdempotent`: the account if missing, nothing otherwise. */
export function createAssociatedTokenAccountIdempotent(
  payer: PublicKey,
  owner: PublicKey,
  mint: PublicKey,
  tokenProgram = TOKEN_PROGRAM_ID,
): TransactionInstruction {
  return new TransactionInstruction({
    programId: ATA_PROGRAM_ID,
    keys: [
      { pubkey: payer, isSigner: true, isWritable: true },
      { pubkey: associatedTokenAddress(owner, mint, tokenProgram), isSigner: false, isWritable: true },
      { pubkey: owner, isSigner: false, isWritable: false },
      { pubkey: mint, isSigner: false, isWritable: false },
      { pubkey: SystemProgram.programId, isSigner: false, isWritable: false },
      { pubkey: tokenProgram, isSigner: false, isWritable: false },
    ],
    data: Buffer.from([1]),
  });
}

export interface Balances {
  lamports: bigint;
  /** Payment tokens in the wallet's associated token account; 0 when it has none. */
  tokens: bigint;
  tokenAccount: PublicKey;
  tokenAccountExists: boolean;
}

export async function loadBalances(connection: Connection, owner: PublicKey, protocol: Protocol): Promise<Balances> {
  const tokenAccount = associatedTokenAddress(owner, protocol.mint, protocol.tokenProgram);
  const [lamports, info] = await Promise.all([
    connection.getBalance(owner, "confirmed"),
    connection.getAccountInfo(tokenAccount, "confirmed"),
  ]);
  // SPL token account layout: amount is a u64 LE at byte 64.
  const tokens = info && info.data.length >= 72 ? new DataView(info.data.buffer, info.data.byteOffset).getBigUint64(64, true) : 0n;
  return { lamports: BigInt(lamports), tokens, tokenAccount, tokenAccountExists: info !== null };
}

/** A transaction ready to sign, and what it does, for the review shown before signing. */
export interface Review {
  transactions: Transaction[];
  /** Tokens the wallet pays (fee escrowed, or bond). */
  tokens: bigint;
  /** The network's signature fees, all transactions together. */
  networkFeeLamports: bigint;
  /** Rent for the accounts it opens; returned when they close. */
  depositLamports: bigint;
  /** Each instruction: program and name, for the review. */
  instructions: { program: string; name: string }[];
  sizeBytes: number[];
}

export function instructionName(program: SibylProgram, ix: TransactionInstruction): { program: string; name: string } {
  if (ix.programId.equals(program.programId)) {
    const decoded = instructionCoder.decode(Buffer.from(ix.data));
    // The coder names instructions in camelCase; the IDL and the program's docs in snake_case.
    const name = decoded?.name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) ?? "unknown";
    return { program: "Sibyl", name };
  }
  if (ix.programId.equals(ATA_PROGRAM_ID)) return { program: "Associated Token Account", name: "create_idempotent" };
  return { program: ix.programId.toBase58(), name: "instruction" };
}

async function review(
  program: SibylProgram,
  payer: PublicKey,
  groups: TransactionInstruction[][],
  tokens: bigint,
  depositLamports: bigint,
): Promise<Review> {
  const connection = program.provider.connection;
  const { blockhash, lastValidBlockHeight } = await connection.getLatestBlockhash("confirmed");
  const transactions = groups.map((instructions) => {
    const tx = new Transaction({ feePayer: payer, blockhash, lastValidBlockHeight });
    tx.add(...instructions);
    return tx;
  });
  let networkFeeLamports = 0n;
  for (const tx of transactions) {
    const fee = await connection.getFeeForMessage(tx.compileMessage(), "confirmed");
    networkFeeLamports += BigInt(fee.value ?? 5000);
  }
  return {
    transactions,
    tokens,
    networkFeeLamports,
    depositLamports,
    instructions: groups.flat().map((ix) => instructionName(program, ix)),
    sizeBytes: transactions.map((tx) => tx.serialize({ requireAllSignatures: false, verifySignatures: false }).length),
  };
}

function requireTokens(balances: Balances, needed: bigint, protocol: Protocol, what: string): void {
  if (balances.tokens < needed) throw new InsufficientTokensError(needed, balances.tokens, protocol.decimals, what);
}

/** A fresh request nonce: the time in milliseconds and 20 random bits, unique per wallet in practice. */
export function freshNonce(now = Date.now(), random = Math.random()): bigint {
  return (BigInt(now) << 20n) | BigInt(Math.floor(random * 2 ** 20));
}

export interface RequestPlan extends Review {
  request: PublicKey;
  nonce: bigint;
}

/**
 * The transactions that pay for a request: `request_inference` with the
 * first bytes of the input (creating the wallet's token account first if it
 * has none), then `write_input` for the rest. Throws
 * `InsufficientTokensError` before anything is signed when the wallet holds
 * less than the fee.
 */
export async function planRequest(
  program: SibylProgram,
  protocol: Protocol,
  model: ModelRow,
  input: Uint8Array,
  requester: PublicKey,
  balances: Balances,
  nonce = freshNonce(),
): Promise<RequestPlan> {
  const fee = big(model.account.price);
  requireTokens(balances, fee, protocol, `a ${model.name} request`);
  const first = await buildRequestInference(program, {
    requester,
    requesterToken: balances.tokenAccount,
    model: model.address,
    nonce,
    fee,
    input: input.subarray(0, FIRST_CHUNK_BYTES),
    inputLen: input.length,
    mint: protocol.mint,
    tokenProgram: protocol.tokenProgram,
  });
  const request = requestPda(requester, nonce, program.programId);
  const groups: TransactionInstruction[][] = [[first]];
  for (let offset = FIRST_CHUNK_BYTES; offset < input.length; offset += CHUNK_BYTES) {
    const ix = await program.methods
      .writeInput(offset, Buffer.from(input.subarray(offset, offset + CHUNK_BYTES)))
      .accountsPartial({ requester, request })
      .instruction();
    groups.push([ix]);
  }
  const connection = program.provider.connection;
  const space = REQUEST_FIXED_BYTES + input.length + model.account.maxOutputBytes;
  const rents = await Promise.all([
    connection.getMinimumBalanceForRentExemption(space),
    connection.getMinimumBalanceForRentExemption(TOKEN_ACCOUNT_BYTES),
  ]);
  const depositLamports = BigInt(rents[0]) + BigInt(rents[1]);
  const plan = await review(program, requester, groups, fee, depositLamports);
  return { ...plan, request, nonce };
}

/**
 * `challenge`: disputes a committed result with `output` (the challenger's
 * canonical output), posting the bond. The app challenges only models whose
 * outputs are all on chain (every view whole): there the result is the
 * whole output and the claimed whole output's SHA-256 is the output's. A
 * model with views needs the challenger's whole output besides its result,
 * which the `sibyl challenge` CLI computes.
 */
export async function planChallenge(
  program: SibylProgram,
  protocol: Protocol,
  requestAddress: PublicKey,
  request: InferenceRequestAccount,
  output: Uint8Array,
  challenger: PublicKey,
  balances: Balances,
): Promise<Review> {
  if (!allWhole(request.outputViews)) {
    throw new Error(
      "This model's result on chain is a view of its output (not every output whole); the app challenges only models whose outputs are all on chain. Use the `sibyl challenge` CLI.",
    );
  }
  if ((request.traceRoot ?? []).some((byte) => byte !== 0)) {
    throw new Error(
      "This model's disputes are decided by the on-chain referee, by bisection, not by vote: a watching node (`sibyl node run` with the watch role) opens a game and plays it. The app does not play games.",
    );
  }
  const wholeOutputSha256 = Array.from(Buffer.from(await sha256Hex(output), "hex"));
  requireTokens(balances, protocol.challengeBond, protocol, "the challenge bond");
  const groups: TransactionInstruction[][] = [[]];
  if (!balances.tokenAccountExists) {
    groups[0]!.push(createAssociatedTokenAccountIdempotent(challenger, challenger, protocol.mint, protocol.tokenProgram));
  }
  groups[0]!.push(
    await program.methods
      .challenge(request.sequence, Buffer.from(output), wholeOutputSha256)
      .accountsPartial({
        challenger,
        request: requestAddress,
        operator: request.operator,
        model: request.model,
        dispute: disputePda(request.model, request.sequence, program.programId),
        challengerToken: balances.tokenAccount,
        bondVault: protocol.bondVault,
        mint: protocol.mint,
        tokenProgram: protocol.tokenProgram,
      })
      .instruction(),
  );
  const rent = BigInt(
    await program.provider.connection.getMinimumBalanceForRentExemption(DISPUTE_FIXED_BYTES + request.maxOutputBytes),
  );
  return review(program, challenger, groups, protocol.challengeBond, rent);
}

/** `cancel_request`: the requester withdraws a pending request; fee and rent come back. */
export async function planCancel(
  program: SibylProgram,
  protocol: Protocol,
  requestAddress: PublicKey,
  requester: PublicKey,
  balances: Balances,
): Promise<Review> {
  const ix = await program.methods
    .cancelRequest()
    .accountsPartial({
      requester,
      request: requestAddress,
      escrow: escrowPda(requestAddress, program.programId),
      requesterToken: balances.tokenAccount,
      mint: protocol.mint,
      tokenProgram: protocol.tokenProgram,
    })
    .instruction();
  return review(program, requester, [[ix]], 0n, 0n);
}

export interface MyRequest {
  publicKey: PublicKey;
  account: InferenceRequestAccount;
}

/** Requests this wallet made whose accounts are still open, newest first. */
export async function loadMyRequests(program: SibylProgram, requester: PublicKey): Promise<MyRequest[]> {
  const all = await program.account.inferenceRequest.all([{ memcmp: { offset: 8, bytes: requester.toBase58() } }]);
  return all.sort((a, b) => Number(b.account.createdSlot.toString()) - Number(a.account.createdSlot.toString()));
}
