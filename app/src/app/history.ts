// A dispute's story read back from its transactions, for a dispute whose
// account is already closed (it closes once every vote is claimed, which can
// be a slot or two after it opened). Sibyl emits its events as
// self-invocations (`emit_cpi!`), recorded in each transaction's inner
// instructions: the tag, then the event's discriminator and fields.
import { utils, type BorshInstructionCoder } from "@coral-xyz/anchor";
import BN from "bn.js";
import { PublicKey } from "@solana/web3.js";
import type { InferenceRequestAccount, SibylProgram } from "../sibyl/client.js";
import type { DisputeAccount } from "./follow.js";

/** Anchor's `EVENT_IX_TAG` (0x1d9acb512ea545e4), little-endian: the first 8 bytes of an event self-invocation. */
export const EVENT_IX_TAG = Uint8Array.of(0xe4, 0x45, 0xa5, 0x2e, 0x51, 0xcb, 0x9a, 0x1d);

interface DecodedEvent {
  slot: number;
  /** The event's name as the Anchor client spells it (camelCase: `resultChallenged`). */
  name: string;
  data: Record<string, unknown>;
}

/** Every Sibyl event in the transactions that touched `address`, oldest first. */
export async function eventsOf(program: SibylProgram, address: PublicKey): Promise<DecodedEvent[]> {
  const connection = program.provider.connection;
  const listed = await connection.getSignaturesForAddress(address, undefined, "confirmed");
  const events: DecodedEvent[] = [];
  for (const { signature, slot } of listed.reverse()) {
    const transaction = await connection.getTransaction(signature, {
      commitment: "confirmed",
      maxSupportedTransactionVersion: 0,
    });
    // A failed transaction changed nothing (a losing commit of a race, say).
    if (!transaction?.meta?.innerInstructions || transaction.meta.err) continue;
    const keys = transaction.transaction.message.staticAccountKeys;
    for (const group of transaction.meta.innerInstructions) {
      for (const instruction of group.instructions) {
        if (!keys[instruction.programIdIndex]?.equals(program.programId)) continue;
        const bytes = utils.bytes.bs58.decode(instruction.data);
        if (bytes.length < 16 || !EVENT_IX_TAG.every((byte, i) => bytes[i] === byte)) continue;
        const event = program.coder.events.decode(Buffer.from(bytes.subarray(8)).toString("base64"));
        if (event) events.push({ slot, name: event.name, data: event.data as Record<string, unknown> });
      }
    }
  }
  return events;
}

/**
 * The output the operator committed to this request instance, read from its
 * `commit_result` transaction: once a dispute overturns a result, the
 * account holds only the challenger's output.
 */
export async function committedOutputFromHistory(
  program: SibylProgram,
  requestAddress: PublicKey,
  request: InferenceRequestAccount,
): Promise<Uint8Array | null> {
  const connection = program.provider.connection;
  const listed = await connection.getSignaturesForAddress(requestAddress, undefined, "confirmed");
  for (const { signature } of listed) {
    const transaction = await connection.getTransaction(signature, {
      commitment: "confirmed",
      maxSupportedTransactionVersion: 0,
    });
    if (!transaction || transaction.meta?.err) continue;
    const message = transaction.transaction.message;
    const keys = message.staticAccountKeys;
    for (const instruction of message.compiledInstructions) {
      if (!keys[instruction.programIdIndex]?.equals(program.programId)) continue;
      const decoded = (program.coder.instruction as BorshInstructionCoder).decode(Buffer.from(instruction.data));
      if (decoded?.name !== "commitResult") continue;
      const args = decoded.data as { sequence: BN; output: Buffer };
      if (args.sequence.eq(request.sequence)) return Uint8Array.from(args.output);
    }
  }
  return null;
}

/**
 * The last state of a closed dispute, rebuilt from its events (null when
 * it never opened). The challenger's output is known only when it became
 * final (the request's output); otherwise it is left empty.
 */
export async function disputeFromHistory(
  program: SibylProgram,
  requestAddress: PublicKey,
  disputeAddress: PublicKey,
  request: InferenceRequestAccount,
): Promise<DisputeAccount | null> {
  const events = await eventsOf(program, disputeAddress);
  const opened = events.find((event) => event.name === "resultChallenged");
  if (!opened) return null;
  const challenged = opened.data as {
    challenger: PublicKey;
    bond: BN;
    challengerOutputHash: number[];
    challengerWholeOutputSha256: number[];
    voteDeadlineSlot: BN;
    revealDeadlineSlot: BN;
    eligibleStake: BN;
    quorumBps: number;
    thresholdBps: number;
  };
  const cast = events.filter((event) => event.name === "voteCast");
  const votes = cast.length;
  const stakeCommitted = cast.reduce((sum, event) => sum.add((event.data as { weight: BN }).weight), new BN(0));
  const decided = [...events].reverse().find((event) => event.name === "disputeResolved" || event.name === "disputeArbitrated");
  const resolved = events.find((event) => event.name === "disputeResolved")?.data as
    | { stakeForOperator: BN; stakeForChallenger: BN; stakeForNeither: BN }
    | undefined;
  const outcome = (decided?.data as { outcome?: DisputeAccount["outcome"] } | undefined)?.outcome ?? { open: {} };
  const upheld = "challengerUpheld" in outcome;
  const zero = new BN(0);
  return {
    request: requestAddress,
    model: request.model,
    requestSequence: request.sequence,
    operator: request.operator,
    challenger: challenged.challenger,
    bond: challenged.bond,
    openedSlot: new BN(opened.slot),
    voteDeadlineSlot: challenged.voteDeadlineSlot,
    eligibleStake: challenged.eligibleStake,
    quorumBps: challenged.quorumBps,
    thresholdBps: challenged.thresholdBps,
    voterRewardBps: 0,
    slashBps: 0,
    stakeForOperator: resolved?.stakeForOperator ?? zero,
    stakeForChallenger: resolved?.stakeForChallenger ?? zero,
    stakeForNeither: resolved?.stakeForNeither ?? zero,
    voteCount: votes,
    unclaimedVotes: 0,
    outcome,
    arbitrationDeadlineSlot: zero,
    rewardPool: zero,
    rewardStakeUnclaimed: zero,
    challengerOutputHash: challenged.challengerOutputHash,
    challengerWholeOutputSha256: challenged.challengerWholeOutputSha256,
    // Not in the events; a recalled dispute is only shown, never settled.
    challengerToken: PublicKey.default,
    revealDeadlineSlot: challenged.revealDeadlineSlot,
    stakeCommitted,
    inconclusiveSlot: zero,
    bump: 0,
    challengerOutput: upheld ? Buffer.from(request.output) : Buffer.alloc(0),
  } as DisputeAccount;
}
