// A small typed wrapper over @coral-xyz/anchor's `Program<Sibyl>`, typed by
// the generated IDL: when the program's instructions or accounts change,
// `make idl` regenerates src/generated/sibyl.ts and `tsc` flags the code here
// (and in the app) that no longer matches.
import {
  AnchorProvider,
  Program,
  type IdlAccounts,
  type IdlTypes,
} from "@coral-xyz/anchor";
import BN from "bn.js";
import {
  PublicKey,
  type Commitment,
  type Connection,
  type TransactionInstruction,
} from "@solana/web3.js";
import { IDL, SIBYL_ERRORS, type Sibyl, type SibylErrorName } from "../generated/sibyl.js";
import { modelPda } from "./pda.js";

export type { Sibyl } from "../generated/sibyl.js";
export type SibylProgram = Program<Sibyl>;
/** What `AnchorProvider` signs with (a browser wallet adapter or a Node keypair wallet). */
export type SibylWallet = ConstructorParameters<typeof AnchorProvider>[1];

/** Decoded accounts, with the IDL's camelCase field names. */
export type InferenceRequestAccount = IdlAccounts<Sibyl>["inferenceRequest"];
export type ModelAccount = IdlAccounts<Sibyl>["model"];
export type RequestStatus = IdlTypes<Sibyl>["requestStatus"];
export type RequestInferenceArgs = IdlTypes<Sibyl>["requestInferenceArgs"];

/** The classic SPL Token program; pass the Token-2022 id for a Token-2022 payment mint. */
export const TOKEN_PROGRAM_ID = new PublicKey("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA");

export function makeProgram(
  connection: Connection,
  wallet: SibylWallet,
  commitment: Commitment = "confirmed",
): SibylProgram {
  const provider = new AnchorProvider(connection, wallet, { commitment, preflightCommitment: commitment });
  return new Program<Sibyl>(IDL, provider);
}

export interface RequestInferenceParams {
  /** Pays the fee and signs. */
  requester: PublicKey;
  /** The requester's token account of the payment mint: pays the fee, and every refund of the request goes back to it. */
  requesterToken: PublicKey;
  /** The model account, or the model's 32-byte SHA-256 (its PDA is derived). */
  model: PublicKey | Uint8Array;
  /** Makes the request PDA unique per requester. */
  nonce: bigint | number | BN;
  /** Fee to escrow, in payment-token base units; at least the model's price. */
  fee: bigint | number | BN;
  /** The input, or its first bytes (the rest follows with `write_input`; at most 8 KiB in all); empty when `inputReference` names it. */
  input: Uint8Array;
  /**
   * The input by its SHA-256 and URI instead of its bytes: nodes fetch it,
   * and anyone holding it writes it on chain (`write_input_buffer`) only if a node
   * demands it. `inputLen` is then the whole input's length.
   */
  inputReference?: { sha256: Uint8Array; uri: string };
  /** Total input length; defaults to `input.length` (the whole input in this instruction). */
  inputLen?: number;
  /** The config's payment mint. */
  mint: PublicKey;
  /** The payment mint's token program; defaults to SPL Token. */
  tokenProgram?: PublicKey;
  /** A consumer program to call with the final result, and its accounts. */
  callback?: RequestInferenceArgs["callback"];
  /** The longest challenge window to accept, in slots: the request fails if the model's is longer. */
  maxChallengeWindowSlots?: bigint | number | BN;
}

const toBN = (v: bigint | number | BN): BN => (BN.isBN(v) ? (v as BN) : new BN(v.toString()));

/**
 * The `request_inference` instruction. Anchor derives `config`, `request`
 * (from `requester` and `nonce`), `escrow`, `event_authority` and `program`;
 * `model` is passed because its PDA seed is a field of the model account itself.
 */
export async function buildRequestInference(
  program: SibylProgram,
  p: RequestInferenceParams,
): Promise<TransactionInstruction> {
  const model = p.model instanceof PublicKey ? p.model : modelPda(p.model, program.programId);
  const args: RequestInferenceArgs = {
    nonce: toBN(p.nonce),
    fee: toBN(p.fee),
    inputLen: p.inputLen ?? p.input.length,
    input: Buffer.from(p.input),
    inputReference: p.inputReference ? { sha256: Array.from(p.inputReference.sha256), uri: p.inputReference.uri } : null,
    callback: p.callback ?? null,
    maxChallengeWindowSlots: p.maxChallengeWindowSlots === undefined ? null : toBN(p.maxChallengeWindowSlots),
  };
  return program.methods
    .requestInference(args)
    .accountsPartial({
      requester: p.requester,
      model,
      requesterToken: p.requesterToken,
      mint: p.mint,
      tokenProgram: p.tokenProgram ?? TOKEN_PROGRAM_ID,
    })
    .instruction();
}

/** The request account at `address`; throws if it does not exist. */
export function fetchRequest(program: SibylProgram, address: PublicKey): Promise<InferenceRequestAccount> {
  return program.account.inferenceRequest.fetch(address);
}

/** The model account at `address`; throws if it does not exist. */
export function fetchModel(program: SibylProgram, address: PublicKey): Promise<ModelAccount> {
  return program.account.model.fetch(address);
}

export interface SibylError {
  code: number;
  name: SibylErrorName;
  msg: string;
}

/** The program's custom error with this code (6000 + its index), or undefined. */
export function sibylError(code: number): SibylError | undefined {
  const e = SIBYL_ERRORS[code];
  return e && { code, name: e.name, msg: e.msg };
}
