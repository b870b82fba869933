// Where a request stands, from its account, its dispute (if any) and the
// current slot: what the request page shows as its timeline.

export type RequestStatusName = "pending" | "committed" | "challenged" | "finalized" | "overturned";
export type OutcomeName =
  | "open"
  | "operatorUpheld"
  | "challengerUpheld"
  | "inconclusive"
  | "refunded"
  | "commitmentRejected";

/** The fields of an `InferenceRequest` the timeline reads (slots as numbers). */
export interface RequestFacts {
  status: RequestStatusName;
  inputComplete: boolean;
  deadlineSlot: number;
  operator: string;
  committedSlot: number;
  challengeDeadlineSlot: number;
  challengeWindowSlots: number;
}

/** The fields of a `Dispute` the timeline reads. */
export interface DisputeFacts {
  challenger: string;
  bond: bigint;
  openedSlot: number;
  voteDeadlineSlot: number;
  eligibleStake: bigint;
  quorumBps: number;
  thresholdBps: number;
  stakeForOperator: bigint;
  stakeForChallenger: bigint;
  /** Stake that voted both outputs wrong (against the operator, not for the challenger). */
  stakeForNeither: bigint;
  voteCount: number;
  outcome: OutcomeName;
}

export type Stage =
  | { kind: "pending"; uploading: boolean; slotsLeft: number }
  | { kind: "committed"; slotsLeft: number; windowSlots: number; windowClosed: boolean }
  | { kind: "challenged"; slotsLeft: number; votingClosed: boolean }
  | { kind: "finalized" }
  | { kind: "overturned" }
  /** The account is gone: cancelled, expired or closed after it settled. */
  | { kind: "closed" };

export interface Step {
  label: string;
  state: "done" | "active" | "todo" | "skipped";
}

export function stageOf(request: RequestFacts | null, dispute: DisputeFacts | null, slot: number): Stage {
  if (!request) return { kind: "closed" };
  const left = (deadline: number) => Math.max(0, deadline - slot);
  switch (request.status) {
    case "pending":
      return { kind: "pending", uploading: !request.inputComplete, slotsLeft: left(request.deadlineSlot) };
    case "committed":
      return {
        kind: "committed",
        slotsLeft: left(request.challengeDeadlineSlot),
        windowSlots: request.challengeWindowSlots,
        windowClosed: slot > request.challengeDeadlineSlot,
      };
    case "challenged":
      return {
        kind: "challenged",
        slotsLeft: dispute ? left(dispute.voteDeadlineSlot) : 0,
        votingClosed: dispute ? slot > dispute.voteDeadlineSlot : false,
      };
    case "finalized":
      return { kind: "finalized" };
    case "overturned":
      return { kind: "overturned" };
  }
}

/**
 * The timeline: paid → committed → challenge window → final, with the
 * dispute's steps in place of the window's end when there was one.
 */
export function timeline(stage: Stage, disputed: boolean): Step[] {
  const order = ["paid", "committed", "window", "final"] as const;
  const reached: Record<Stage["kind"], number> = {
    pending: 1,
    committed: 2,
    challenged: 2,
    finalized: 4,
    overturned: 4,
    closed: 4,
  };
  const at = reached[stage.kind];
  const labels: Record<(typeof order)[number], string> = {
    paid: "Paid",
    committed: "Result committed",
    window: disputed ? "Challenged: verifiers vote" : "Challenge window",
    final: stage.kind === "overturned" ? "Overturned" : stage.kind === "closed" ? "Closed" : "Finalized",
  };
  return order.map((key, i) => ({
    label: labels[key],
    state: i < at ? "done" : i === at ? "active" : "todo",
  }));
}

/** Voting progress of a dispute, in the program's terms (quorum and threshold in basis points). */
export function voteTally(d: DisputeFacts): {
  turnoutBps: number;
  challengerShareBps: number;
  quorumMet: boolean;
  leading: "operator" | "challenger" | "none";
} {
  const against = d.stakeForChallenger + d.stakeForNeither;
  const voted = d.stakeForOperator + against;
  const turnoutBps = d.eligibleStake > 0n ? Number((voted * 10_000n) / d.eligibleStake) : 0;
  const challengerShareBps = voted > 0n ? Number((d.stakeForChallenger * 10_000n) / voted) : 0;
  const leading = voted === 0n ? "none" : against > d.stakeForOperator ? "challenger" : "operator";
  return { turnoutBps, challengerShareBps, quorumMet: turnoutBps >= d.quorumBps, leading };
}

/** "≈ 4.8 s" for `slots` slots of `msPerSlot`. */
export function slotsAsTime(slots: number, msPerSlot: number): string {
  const seconds = (slots * msPerSlot) / 1000;
  if (seconds < 60) return `≈ ${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  return `≈ ${minutes} min ${Math.round(seconds - minutes * 60)} s`;
}

/** A dispute's outcome in words. */
export function outcomeText(outcome: OutcomeName): string {
  switch (outcome) {
    case "open":
      return "voting";
    case "operatorUpheld":
      return "the result stood: the challenger loses the bond";
    case "challengerUpheld":
      return "the challenger was right: the operator is slashed";
    case "inconclusive":
      return "inconclusive: awaiting the protocol authority's arbitration";
    case "refunded":
      return "no arbitration in time: the requester was refunded and the bond returned";
    case "commitmentRejected":
      return "both outputs were wrong: the operator is slashed and the requester refunded";
  }
}
