// Every program-derived address of Sibyl, as `consumer/src/pda.rs` (the SDK) derives them.
// The constant seeds and the program id come from the generated IDL module, so
// a renamed seed follows `make idl`; test/client.test.ts checks that each
// PDA's seed count in the IDL still matches the helper's.
import { PublicKey } from "@solana/web3.js";
import { PDA_SEEDS, PROGRAM_ADDRESS } from "../generated/sibyl.js";

/** The program id (the IDL's `address`). */
export const PROGRAM_ID = new PublicKey(PROGRAM_ADDRESS);

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

function find(seeds: Uint8Array[], programId: PublicKey): PublicKey {
  return PublicKey.findProgramAddressSync(seeds, programId)[0];
}

function u64Le(value: bigint | number): Uint8Array {
  const v = BigInt(value);
  if (v < 0n || v > 0xffff_ffff_ffff_ffffn) throw new RangeError(`not a u64: ${value}`);
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, v, true);
  return out;
}

function hash32(hash: Uint8Array): Uint8Array {
  if (hash.length !== 32) throw new RangeError(`a model hash is 32 bytes, got ${hash.length}`);
  return hash;
}

/** The protocol config: `["config"]`. */
export const configPda = (programId = PROGRAM_ID): PublicKey =>
  find([utf8(PDA_SEEDS.config)], programId);

/** The vault holding operator stake: `["stake_vault"]`. */
export const stakeVaultPda = (programId = PROGRAM_ID): PublicKey =>
  find([utf8(PDA_SEEDS.stake_vault)], programId);

/** The vault holding challenge bonds and voter reward pools: `["bond_vault"]`. */
export const bondVaultPda = (programId = PROGRAM_ID): PublicKey =>
  find([utf8(PDA_SEEDS.bond_vault)], programId);

/** A model, by the SHA-256 of its ONNX file: `["model", model_hash]`. */
export const modelPda = (modelHash: Uint8Array, programId = PROGRAM_ID): PublicKey =>
  find([utf8(PDA_SEEDS.model), hash32(modelHash)], programId);

/** An operator, by its authority: `["operator", authority]`. */
export const operatorPda = (authority: PublicKey, programId = PROGRAM_ID): PublicKey =>
  find([utf8(PDA_SEEDS.operator), authority.toBytes()], programId);

/** A request, by requester and nonce: `["request", requester, nonce as u64 LE]`. */
export const requestPda = (
  requester: PublicKey,
  nonce: bigint | number,
  programId = PROGRAM_ID,
): PublicKey => find([utf8(PDA_SEEDS.request), requester.toBytes(), u64Le(nonce)], programId);

/** A request's escrow token account: `["escrow", request]`. */
export const escrowPda = (request: PublicKey, programId = PROGRAM_ID): PublicKey =>
  find([utf8(PDA_SEEDS.escrow), request.toBytes()], programId);

/** A model's protocol-fee vault (owned by the config): `["fee_vault", model]`. */
export const feeVaultPda = (model: PublicKey, programId = PROGRAM_ID): PublicKey =>
  find([utf8(PDA_SEEDS.fee_vault), model.toBytes()], programId);

/**
 * The dispute over one request instance, the `sequence`-th request of `model`
 * (both read from the request account): `["dispute", model, sequence as u64 LE]`.
 */
export const disputePda = (
  model: PublicKey,
  sequence: bigint | number | { toString(): string },
  programId = PROGRAM_ID,
): PublicKey =>
  find([utf8(PDA_SEEDS.dispute), model.toBytes(), u64Le(BigInt(sequence.toString()))], programId);

/** `challenger`'s referee game on the `sequence`-th request of `model`: `["referee_game", model, sequence, challenger]`. */
export const refereeGamePda = (
  model: PublicKey,
  sequence: bigint | number | { toString(): string },
  challenger: PublicKey,
  programId = PROGRAM_ID,
): PublicKey =>
  find(
    [utf8(PDA_SEEDS.game), model.toBytes(), u64Le(BigInt(sequence.toString())), challenger.toBytes()],
    programId,
  );

/** An operator's vote in a dispute (`operator` is the operator account): `["vote", dispute, operator]`. */
export const votePda = (dispute: PublicKey, operator: PublicKey, programId = PROGRAM_ID): PublicKey =>
  find([utf8(PDA_SEEDS.vote), dispute.toBytes(), operator.toBytes()], programId);

/**
 * `writer`'s input buffer for the `sequence`-th request of `model` at
 * `request` (a demanded referenced input, written by anyone holding it):
 * `["input", request, model, sequence as u64 LE, writer]`.
 */
export const inputBufferPda = (
  request: PublicKey,
  model: PublicKey,
  sequence: bigint | number | { toString(): string },
  writer: PublicKey,
  programId = PROGRAM_ID,
): PublicKey =>
  find(
    [utf8(PDA_SEEDS.buffer), request.toBytes(), model.toBytes(), u64Le(BigInt(sequence.toString())), writer.toBytes()],
    programId,
  );

/** The signer of Sibyl's event self-invocations: `["__event_authority"]` (Anchor's `#[event_cpi]`). */
export const eventAuthorityPda = (programId = PROGRAM_ID): PublicKey =>
  find([utf8("__event_authority")], programId);

/** How many seeds each helper takes, by the IDL's account name (checked against the IDL by the tests). */
export const PDA_SEED_COUNTS = {
  config: 1,
  stake_vault: 1,
  bond_vault: 1,
  model: 2,
  operator: 2,
  // `challenge`'s account for the challenger's operator PDA: `operatorPda(challenger)`.
  challenger_operator: 2,
  request: 3,
  escrow: 2,
  fee_vault: 2,
  dispute: 3,
  vote: 3,
  // `write_input_buffer`'s and `close_input_buffer`'s buffer: `inputBufferPda(…)`.
  buffer: 5,
  // `open_referee_game`'s game: `refereeGamePda(…)`.
  game: 4,
} as const satisfies Record<keyof typeof PDA_SEEDS, number>;
