// Follows one request live over PubSub: its account, its dispute's account
// and the slot, each pushed by the cluster (accountSubscribe, slotSubscribe).
import type { IdlAccounts } from "@coral-xyz/anchor";
import { type AccountInfo, PublicKey } from "@solana/web3.js";
import type { InferenceRequestAccount, Sibyl, SibylProgram } from "../sibyl/client.js";
import { disputePda } from "../sibyl/pda.js";
import { committedOutputFromHistory, disputeFromHistory } from "./history.js";
import { big, variant } from "./chain.js";
import type { DisputeFacts, OutcomeName, RequestFacts, RequestStatusName } from "./lifecycle.js";

export type DisputeAccount = IdlAccounts<Sibyl>["dispute"];

/** Reads of a settled request's dispute history before concluding it had none. */
const HISTORY_ATTEMPTS = 5;
const HISTORY_RETRY_MS = 400;

export interface Snapshot {
  request: InferenceRequestAccount | null;
  /** The dispute, or the last state seen of it once it is closed. */
  dispute: DisputeAccount | null;
  /** The output the operator committed (kept once a dispute replaces it). */
  committedOutput: Uint8Array | null;
  slot: number;
  /** Measured from slot notifications (400, mainnet's target, until two have arrived). */
  msPerSlot: number;
}

export function requestFacts(r: InferenceRequestAccount): RequestFacts {
  return {
    status: variant(r.status) as RequestStatusName,
    // As `InferenceRequest::awaiting_input`: a referenced input is ready
    // unless a node demanded it and no buffer holds it yet.
    inputComplete:
      r.inputUri.length > 0
        ? r.inputDemandedBy.equals(PublicKey.default) || !r.inputBuffer.equals(PublicKey.default)
        : r.input.length === r.inputLen,
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
    stakeForNeither: big(d.stakeForNeither),
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
  const state: Snapshot = { request: null, dispute: null, committedOutput: null, slot: 0, msPerSlot: 400 };
  let lastSlotAt = 0;
  let measured = 0;
  let stopped = false;
  const push = () => {
    if (!stopped) onUpdate({ ...state });
  };
  const decode = <T>(name: "inferenceRequest" | "dispute", info: AccountInfo<Buffer> | null): T | null =>
    info && info.data.length > 0 && info.lamports > 0 ? (program.coder.accounts.decode(name, info.data) as T) : null;

  // The dispute's address names one request instance (its model and
  // sequence number), so it is known once the request is read; a request
  // made again at the same address has another.
  let followedDispute: { address: string; subscription: number } | null = null;
  // Whether a settled request's dispute and committed output were looked
  // up in its history (once per request instance).
  let recalled = false;
  let committedRecalled = false;
  const followDispute = (request: InferenceRequestAccount) => {
    const disputeAddress = disputePda(request.model, request.sequence, program.programId);
    if (stopped || followedDispute?.address === disputeAddress.toBase58()) return;
    if (followedDispute) void connection.removeAccountChangeListener(followedDispute.subscription).catch(() => {});
    // Another instance (the request was made again at this address): what
    // was learned of the one before does not belong to it.
    state.dispute = null;
    state.committedOutput = null;
    recalled = false;
    committedRecalled = false;
    const subscription = connection.onAccountChange(
      disputeAddress,
      (info) => {
        // A closed dispute keeps its last state on screen.
        state.dispute = decode<DisputeAccount>("dispute", info) ?? state.dispute;
        push();
      },
      { commitment: "confirmed" },
    );
    followedDispute = { address: disputeAddress.toBase58(), subscription };
    connection
      .getAccountInfo(disputeAddress, "confirmed")
      .then((info) => {
        // A notification may have arrived first; it is newer.
        state.dispute ??= decode<DisputeAccount>("dispute", info);
        push();
      })
      .catch(onError);
  };
  // A settled request whose dispute closed before this page saw it (it
  // closes once its votes are claimed, which can be a slot or two after it
  // opened): its events tell the story the account no longer holds.
  // The cluster's transaction history can trail its account notifications
  // by a moment, so a history without the dispute is read again a few times.
  const recallDispute = async (request: InferenceRequestAccount, attempt = 0): Promise<void> => {
    if ((recalled && attempt === 0) || state.dispute || !isSettled(request)) return;
    recalled = true;
    const disputeAddress = disputePda(request.model, request.sequence, program.programId);
    const info = await connection.getAccountInfo(disputeAddress, "confirmed").catch((err: unknown) => {
      recalled = false;
      throw err;
    });
    const told = decode<DisputeAccount>("dispute", info) ?? (await disputeFromHistory(program, address, disputeAddress, request));
    if (!told && attempt < HISTORY_ATTEMPTS && !stopped) {
      await new Promise((resolve) => setTimeout(resolve, HISTORY_RETRY_MS));
      return recallDispute(request, attempt + 1);
    }
    state.dispute ??= told;
    push();
  };
  // The committed output, from the account while it holds it, otherwise
  // (first seen overturned) from the commit's transaction.
  const keepCommittedOutput = async (request: InferenceRequestAccount) => {
    const status = variant(request.status) as RequestStatusName;
    if (state.committedOutput || status === "pending" || status === "finalized") return;
    if (status === "committed" || status === "challenged") {
      state.committedOutput = Uint8Array.from(request.output);
      return;
    }
    if (committedRecalled) return;
    committedRecalled = true;
    state.committedOutput ??= await committedOutputFromHistory(program, address, request);
    push();
  };
  const requestSeen = (request: InferenceRequestAccount | null) => {
    if (request) {
      state.request = request;
      followDispute(request);
      void keepCommittedOutput(request).catch(onError);
      void recallDispute(request).catch(onError);
    }
  };

  const subscriptions = [
    connection.onAccountChange(
      address,
      (info) => {
        const request = decode<InferenceRequestAccount>("inferenceRequest", info);
        state.request = request;
        requestSeen(request);
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
    const [request, slot] = await Promise.all([
      connection.getAccountInfo(address, "confirmed"),
      connection.getSlot("confirmed"),
    ]);
    // A notification may have arrived first; it is newer.
    if (!state.request) requestSeen(decode<InferenceRequestAccount>("inferenceRequest", request));
    state.slot = Math.max(state.slot, slot);
    push();
  })().catch(onError);
  return () => {
    stopped = true;
    void connection.removeAccountChangeListener(subscriptions[0]!).catch(() => {});
    if (followedDispute) void connection.removeAccountChangeListener(followedDispute.subscription).catch(() => {});
    void connection.removeSlotChangeListener(subscriptions[1]!).catch(() => {});
  };
}

/** Whether the request reached a final result (a dispute, if any, is decided). */
function isSettled(request: InferenceRequestAccount): boolean {
  const status = variant(request.status) as RequestStatusName;
  return status === "finalized" || status === "overturned";
}
