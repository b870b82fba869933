import { useWallet } from "@solana/wallet-adapter-react";
import type { PublicKey } from "@solana/web3.js";
import { useEffect, useRef, useState } from "react";
import { formatUnits, shortKey } from "../app/amounts.js";
import { planCancel, planChallenge, variant, type Review } from "../app/chain.js";
import { NoWalletError } from "../app/errors.js";
import { disputeFacts, followRequest, requestFacts, type Snapshot } from "../app/follow.js";
import { outcomeText, slotsAsTime, stageOf, timeline, voteTally } from "../app/lifecycle.js";
import { signAndSend } from "../app/send.js";
import type { InferenceRequestAccount } from "../sibyl/client.js";
import { allWhole, fetchWholeOutput, toHex } from "../sibyl/outputs.js";
import { ChallengeForm } from "./ChallengeForm.js";
import { ResultChart } from "./ResultChart.js";
import { ReviewPanel } from "./ReviewPanel.js";
import { useSibyl, useSigner } from "./state.js";

interface Moment {
  slot: number;
  text: string;
}

/** One request, live: its timeline, countdowns, votes and result. */
export function RequestView({ address }: { address: PublicKey }) {
  const { program, protocol, balances, models, showError, refresh } = useSibyl();
  const { publicKey } = useWallet();
  const signer = useSigner();
  const [snapshot, setSnapshot] = useState<Snapshot | null>(null);
  const [pending, setPending] = useState<{ review: Review; label: string; tokensLabel: string } | null>(null);
  const [challenging, setChallenging] = useState(false);
  const [moments, setMoments] = useState<Moment[]>([]);
  const seen = useRef(new Set<string>());

  useEffect(() => followRequest(program, address, setSnapshot, showError), [program, address, showError]);

  const request = snapshot?.request ?? null;
  const dispute = snapshot?.dispute ?? null;
  const slot = snapshot?.slot ?? 0;
  const facts = request ? requestFacts(request) : null;
  const disputed = dispute ? disputeFacts(dispute) : null;
  const stage = stageOf(facts, disputed, slot);

  // The story so far, one line per step, in the order they were seen.
  useEffect(() => {
    if (!snapshot) return;
    const add = (key: string, at: number, text: string) => {
      if (seen.current.has(key)) return;
      seen.current.add(key);
      setMoments((m) => [...m, { slot: at, text }]);
    };
    if (request) {
      add("paid", Number(request.createdSlot.toString()), `Paid ${protocol ? formatUnits(request.fee.toString(), protocol.decimals) : ""} tokens into escrow`);
      if (variant(request.status) !== "pending") {
        add("committed", Number(request.committedSlot.toString()), `Committed by operator ${shortKey(request.operator)}`);
      }
    }
    if (dispute) {
      add("challenged", Number(dispute.openedSlot.toString()), `Challenged by ${shortKey(dispute.challenger)} with a bond of ${protocol ? formatUnits(dispute.bond.toString(), protocol.decimals) : ""} tokens`);
      if (dispute.voteCount > 0) add(`votes-${dispute.voteCount}`, slot, `${dispute.voteCount} vote${dispute.voteCount === 1 ? "" : "s"} cast`);
    }
    if (stage.kind === "finalized") add("final", slot, "Finalized: the committed result stood");
    if (stage.kind === "overturned") add("final", slot, "Overturned: the challenger's output replaced the operator's");
    if (stage.kind === "closed" && snapshot.slot > 0) add("closed", slot, "The request account is closed (cancelled, expired or settled and closed)");
  }, [snapshot]); // The story moves only when the chain does: once per snapshot.

  const model = request ? models.find((m) => m.address.equals(request.model)) : undefined;
  const mine = !!(publicKey && request && request.requester.equals(publicKey));
  const run = (label: string, tokensLabel: string, plan: () => Promise<Review>) => async () => {
    try {
      if (!publicKey || !balances) throw new NoWalletError();
      setPending({ review: await plan(), label, tokensLabel });
    } catch (err) {
      showError(err);
    }
  };

  return (
    <section className="request" data-testid="request-view" data-stage={stage.kind}>
      <h2>
        Request <code title={address.toBase58()}>{shortKey(address)}</code>
        {model && <> · {model.name}</>}
      </h2>
      <ol className="timeline" data-testid="timeline">
        {timeline(stage, disputed !== null).map((step) => (
          <li key={step.label} className={step.state}>
            {step.label}
          </li>
        ))}
      </ol>
      <p className="stage" data-testid="stage">
        {stage.kind === "pending" &&
          (stage.uploading ? "Uploading the input…" : `Waiting for an operator to run the model (expires in ${stage.slotsLeft} slots).`)}
        {stage.kind === "committed" &&
          (stage.windowClosed
            ? "The challenge window has closed; the result is being finalized."
            : `In the challenge window: ${stage.slotsLeft} slots left (${slotsAsTime(stage.slotsLeft, snapshot!.msPerSlot)}) for anyone to dispute it.`)}
        {stage.kind === "challenged" &&
          (stage.votingClosed ? "Voting has closed; the votes are being revealed and the dispute settled." : `Challenged: verifiers re-run the model and commit sealed votes (${stage.slotsLeft} slots left).`)}
        {stage.kind === "finalized" && "Final: the committed result stood its challenge window."}
        {stage.kind === "overturned" && "Overturned: the operator's result was wrong; the challenger's output is final and the operator was slashed."}
        {stage.kind === "closed" && (snapshot ? "This request's account is closed." : "Loading…")}
      </p>
      {stage.kind === "committed" && !stage.windowClosed && (
        <progress data-testid="countdown" max={stage.windowSlots} value={stage.slotsLeft} />
      )}
      {disputed && (
        <div className="dispute" data-testid="dispute">
          <h3>Dispute</h3>
          <p>
            Challenger {shortKey(disputed.challenger)}
            {publicKey?.toBase58() === disputed.challenger && " (you)"} · bond{" "}
            {protocol ? formatUnits(disputed.bond, protocol.decimals) : ""} tokens · outcome{" "}
            <strong data-testid="dispute-outcome" data-outcome={disputed.outcome}>
              {outcomeText(disputed.outcome)}
            </strong>
          </p>
          <Votes facts={disputed} decimals={protocol?.decimals ?? 0} />
          {dispute && dispute.challengerOutput.length > 0 && (
            <details>
              <summary>The challenger's output</summary>
              <ResultChart output={Uint8Array.from(dispute.challengerOutput)} label="challenger" />
            </details>
          )}
        </div>
      )}
      {request && variant(request.status) !== "pending" && (
        <div className="outputs">
          {stage.kind === "overturned" && snapshot?.committedOutput && (
            <div className="overturned-output">
              <h3>Operator's committed output (overturned)</h3>
              <ResultChart output={snapshot.committedOutput} label="committed" />
            </div>
          )}
          <div>
            <h3>{stage.kind === "finalized" || stage.kind === "overturned" ? "Final result" : "Committed result"}</h3>
            <ResultChart output={Uint8Array.from(request.output)} label={stage.kind === "finalized" || stage.kind === "overturned" ? "final" : "committed"} />
          </div>
          {!allWhole(request.outputViews) && <WholeOutput request={request} />}
        </div>
      )}
      <div className="actions">
        {stage.kind === "pending" && mine && protocol && !pending && (
          <button type="button" onClick={run("Cancel the request", "", () => planCancel(program, protocol, address, publicKey!, balances!))}>
            Cancel request (refund)
          </button>
        )}
        {stage.kind === "committed" && !stage.windowClosed && protocol && !pending && !challenging && (
          <button type="button" onClick={() => setChallenging(true)}>
            Challenge this result (bond {formatUnits(protocol.challengeBond, protocol.decimals)} tokens)
          </button>
        )}
      </div>
      {challenging && request && protocol && !pending && (
        <ChallengeForm
          committed={Uint8Array.from(request.output)}
          comparison={model?.account.comparison}
          bond={protocol.challengeBond}
          decimals={protocol.decimals}
          onCancel={() => setChallenging(false)}
          onReview={(output) =>
            run("Sign and post the bond", "Challenge bond (lost if the result stands)", () =>
              planChallenge(program, protocol, address, request, output, publicKey!, balances!),
            )()
          }
        />
      )}
      {pending && protocol && (
        <ReviewPanel
          review={pending.review}
          tokensLabel={pending.tokensLabel}
          decimals={protocol.decimals}
          confirmLabel={pending.label}
          onBack={() => setPending(null)}
          onConfirm={async (progress) => {
            try {
              if (!signer) throw new NoWalletError();
              await signAndSend(program.provider.connection, signer, pending.review, progress);
              setChallenging(false);
              refresh();
            } catch (err) {
              showError(err);
            } finally {
              setPending(null);
            }
          }}
        />
      )}
      <ol className="moments" data-testid="moments">
        {moments.map((m, i) => (
          <li key={i}>
            <span className="slot">slot {m.slot}</span> {m.text}
          </li>
        ))}
      </ol>
    </section>
  );
}

/**
 * The whole output behind a result that is a view of it (a top-k, a slice,
 * an omitted output): fetched from the committing operator's node, else
 * any other operator's (outputs are named by their hash), and shown only
 * once its SHA-256 is the request's and its views are the result on chain.
 */
function WholeOutput({ request }: { request: InferenceRequestAccount }) {
  const { program } = useSibyl();
  const hash = toHex(request.wholeOutputSha256);
  const operator = request.operator.toBase58();
  const [state, setState] = useState<{ whole: Uint8Array; url: string } | { error: string } | null>(null);

  useEffect(() => {
    let live = true;
    setState(null);
    (async () => {
      const committing = await program.account.operator.fetch(request.operator).catch(() => null);
      const others = await program.account.operator.all().catch(() => []);
      const urls = [committing?.outputUrl ?? "", ...others.map((o) => o.account.outputUrl)];
      const got = await fetchWholeOutput(request, [...new Set(urls)]);
      if (live) setState(got);
    })().catch((err: unknown) => {
      if (live) setState({ error: err instanceof Error ? err.message : String(err) });
    });
    return () => {
      live = false;
    };
  }, [program, hash, operator]); // A new whole output (a commit, an upheld challenge) is fetched again.

  return (
    <div className="whole-output">
      <h3>Whole output</h3>
      {state === null && <p className="muted">Fetching the whole output {hash.slice(0, 8)}… from the operators' nodes…</p>}
      {state && "error" in state && (
        <p className="muted" data-testid="whole-output-error">
          {state.error}
        </p>
      )}
      {state && "whole" in state && (
        <>
          <ResultChart output={state.whole} label="whole" />
          <p className="muted" data-testid="whole-output-checked">
            checked: SHA-256 <code title={hash}>{hash.slice(0, 8)}…</code> matches the request, and its views are the result on chain
          </p>
        </>
      )}
    </div>
  );
}

function Votes({ facts, decimals }: { facts: ReturnType<typeof disputeFacts>; decimals: number }) {
  const tally = voteTally(facts);
  return (
    <table className="votes" data-testid="votes">
      <tbody>
        <tr>
          <th>Stake for the operator</th>
          <td>{formatUnits(facts.stakeForOperator, decimals)}</td>
        </tr>
        <tr>
          <th>Stake for the challenger</th>
          <td>{formatUnits(facts.stakeForChallenger, decimals)}</td>
        </tr>
        <tr>
          <th>Stake for neither output</th>
          <td>{formatUnits(facts.stakeForNeither, decimals)}</td>
        </tr>
        <tr>
          <th>Votes · turnout</th>
          <td>
            {facts.voteCount} · {(tally.turnoutBps / 100).toFixed(0)}% of eligible stake (quorum {(facts.quorumBps / 100).toFixed(0)}%,{" "}
            {tally.quorumMet ? "met" : "not yet"})
          </td>
        </tr>
      </tbody>
    </table>
  );
}
