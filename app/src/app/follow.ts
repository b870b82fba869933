// Follows one request live over PubSub: its account, its dispute's account
// and the slot, each pushed by the cluster (accountSubscribe, slotSubscribe).
import type { IdlAccounts } from "@coral-xyz/anchor";
import type { AccountInfo, PublicKey } from "@solana/web3.js";
import type { InferenceRequestAccount, Sibyl, SibylProgram } from "../sibyl/client.js";
import { disputePda } from "../sibyl/pda.js";
import { big, variant } from "./chain.js";
import type { DisputeFacts, OutcomeName, RequestFacts, RequestStatusName } from "./lifecycle.js";

export type DisputeAccount = IdlAccounts<Sibyl>["dispute"];

export interface Snapshot {
  request: InferenceRequestAccount | null;
  /** The dispute, or the last state seen of it once it is closed. */
  dispute: DisputeAccount | null;
  slot: number;
  /** Measured from slot notifications (400, mainnet's target, until two have arrived). */
  msPerSlot: number;
}

export function requestFacts(r: InferenceRequestAccount): RequestFacts {
  return {
    status: variant(r.status) as RequestStatusName,
    inputComplete: r.input.length === r.inputLen,
    deadlineSlot: Number(r.deadlineSlot.toString()),
    operator: r.operator.toBase58(),
    committedSlot: Number(r.committedSlot.toString()),
    challengeDeadlineSlot: Number(r.challengeDeadlineSlot.toString()),
    challengeWindowSlots: Number(r.challengeWindowSlots.toString()),
  };
}

export function disputeFacts(d: DisputeAccount): DisputeFacts {
  return {
    challenger: d.challenger.toBase58(),
    bond: big(d.bond),
    openedSlot: Number(d.openedSlot.toString()),
    voteDeadlineSlot: Number(d.voteDeadlineSlot.toString()),
    eligibleStake: big(d.eligibleStake),
    quorumBps: d.quorumBps,
    thresholdBps: d.thresholdBps,
    stakeForOperator: big(d.stakeForOperator),
    stakeForChallenger: big(d.stakeForChallenger),
    voteCount: d.voteCount,
    outcome: variant(d.outcome) as OutcomeName,
  };
}

/** Starts following `address`; `onUpdate` gets every new snapshot. Returns the stop function. */
export function followRequest(
  program: SibylProgram,
  address: PublicKey,
  onUpdate: (snapshot: Snapshot) => void,
  onError: (err: unknown) => void,
): () => void {
  const connection = program.provider.connection;
  const disputeAddress = disputePda(address, program.programId);
  const state: Snapshot = { request: null, dispute: null, slot: 0, msPerSlot: 400 };
  let lastSlotAt = 0;
  let measured = 0;
  let stopped = false;
  const push = () => {
    if (!stopped) onUpdate({ ...state });
  };
  const decode = <T>(name: "inferenceRequest" | "dispute", info: AccountInfo<Buffer> | null): T | null =>
    info && info.data.length > 0 && info.lamports > 0 ? (program.coder.accounts.decode(name, info.data) as T) : null;

  const subscriptions = [
    connection.onAccountChange(
      address,
      (info) => {
        state.request = decode<InferenceRequestAccount>("inferenceRequest", info);
        push();
      },
      { commitment: "confirmed" },
    ),
    connection.onAccountChange(
      disputeAddress,
      (info) => {
        // A closed dispute keeps its last state on screen.
        state.dispute = decode<DisputeAccount>("dispute", info) ?? state.dispute;
        push();
      },
      { commitment: "confirmed" },
    ),
    connection.onSlotChange(({ slot }) => {
      const now = performance.now();
      if (lastSlotAt > 0 && slot > state.slot) {
        const sample = (now - lastSlotAt) / (slot - state.slot);
        // The first measurement replaces the guess; later ones smooth it.
        state.msPerSlot = Math.round(measured++ === 0 ? sample : state.msPerSlot * 0.8 + sample * 0.2);
      }
      lastSlotAt = now;
      state.slot = Math.max(state.slot, slot);
      push();
    }),
  ];
  (async () => {
    const [request, dispute, slot] = await Promise.all([
      connection.getAccountInfo(address, "confirmed"),
      connection.getAccountInfo(disputeAddress, "confirmed"),
      connection.getSlot("confirmed"),
    ]);
    // A notification may have arrived first; it is newer.
    state.request ??= decode<InferenceRequestAccount>("inferenceRequest", request);
    state.dispute ??= decode<DisputeAccount>("dispute", dispute);
    state.slot = Math.max(state.slot, slot);
    push();
  })().catch(onError);
  return () => {
    stopped = true;
    for (const id of subscriptions.slice(0, 2)) {
      void connection.removeAccountChangeListener(id).catch(() => {});
    }
    void connection.removeSlotChangeListener(subscriptions[2]!).catch(() => {});
  };
}
