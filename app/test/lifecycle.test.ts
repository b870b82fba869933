import { expect, test } from "vitest";
import {
  outcomeText,
  slotsAsTime,
  stageOf,
  timeline,
  voteTally,
  type DisputeFacts,
  type RequestFacts,
} from "../src/app/lifecycle.js";

const request = (over: Partial<RequestFacts>): RequestFacts => ({
  status: "pending",
  inputComplete: true,
  deadlineSlot: 150,
  operator: "op",
  committedSlot: 0,
  challengeDeadlineSlot: 0,
  challengeWindowSlots: 25,
  ...over,
});
const dispute = (over: Partial<DisputeFacts>): DisputeFacts => ({
  challenger: "ch",
  bond: 1_000_000n,
  openedSlot: 40,
  voteDeadlineSlot: 65,
  eligibleStake: 40n,
  quorumBps: 5000,
  thresholdBps: 6600,
  stakeForOperator: 0n,
  stakeForChallenger: 0n,
  stakeForNeither: 0n,
  voteCount: 0,
  outcome: "open",
  ...over,
});

test("each status is a stage with its countdown", () => {
  expect(stageOf(request({}), null, 100)).toEqual({ kind: "pending", uploading: false, slotsLeft: 50 });
  expect(stageOf(request({ inputComplete: false }), null, 200)).toEqual({ kind: "pending", uploading: true, slotsLeft: 0 });
  const committed = request({ status: "committed", committedSlot: 30, challengeDeadlineSlot: 55 });
  expect(stageOf(committed, null, 45)).toEqual({ kind: "committed", slotsLeft: 10, windowSlots: 25, windowClosed: false });
  expect(stageOf(committed, null, 56)).toMatchObject({ slotsLeft: 0, windowClosed: true });
  expect(stageOf(request({ status: "challenged" }), dispute({}), 60)).toEqual({ kind: "challenged", slotsLeft: 5, votingClosed: false });
  expect(stageOf(request({ status: "finalized" }), null, 1)).toEqual({ kind: "finalized" });
  expect(stageOf(request({ status: "overturned" }), dispute({}), 1)).toEqual({ kind: "overturned" });
  expect(stageOf(null, null, 1)).toEqual({ kind: "closed" });
});

test("the timeline marks what is done, what runs, and names the dispute", () => {
  const states = (kind: Parameters<typeof timeline>[0], disputed = false) =>
    timeline(kind, disputed).map((s) => `${s.label}:${s.state}`);
  expect(states({ kind: "pending", uploading: false, slotsLeft: 1 })).toEqual([
    "Paid:done",
    "Result committed:active",
    "Challenge window:todo",
    "Finalized:todo",
  ]);
  expect(states({ kind: "challenged", slotsLeft: 3, votingClosed: false }, true)).toEqual([
    "Paid:done",
    "Result committed:done",
    "Challenged: verifiers vote:active",
    "Finalized:todo",
  ]);
  expect(states({ kind: "overturned" }, true).at(-1)).toBe("Overturned:done");
});

test("the tally follows the program's quorum (basis points of eligible stake)", () => {
  expect(voteTally(dispute({}))).toEqual({ turnoutBps: 0, challengerShareBps: 0, quorumMet: false, leading: "none" });
  expect(voteTally(dispute({ stakeForChallenger: 20n, voteCount: 1 }))).toEqual({
    turnoutBps: 5000,
    challengerShareBps: 10000,
    quorumMet: true,
    leading: "challenger",
  });
  expect(voteTally(dispute({ stakeForOperator: 15n, stakeForChallenger: 5n })).leading).toBe("operator");
  // Votes for neither output count against the operator (turnout included).
  expect(voteTally(dispute({ stakeForOperator: 10n, stakeForChallenger: 5n, stakeForNeither: 10n }))).toMatchObject({
    turnoutBps: 6250,
    leading: "challenger",
  });
});

test("countdowns and outcomes in words", () => {
  expect(slotsAsTime(24, 200)).toBe("≈ 4.8 s");
  expect(slotsAsTime(300, 400)).toBe("≈ 2 min 0 s");
  expect(outcomeText("challengerUpheld")).toContain("operator is slashed");
  expect(outcomeText("operatorUpheld")).toContain("challenger loses the bond");
});
