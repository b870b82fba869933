import { useState } from "react";
import { formatUnits } from "../app/amounts.js";
import { oneHotOutput, outputWithValues } from "../app/challenge.js";
import type { ModelAccount } from "../sibyl/client.js";
import { decodeTensors } from "../sibyl/encoding.js";
import { useSibyl } from "./state.js";

/** The challenger's output: a class for top-k models, every value otherwise. */
export function ChallengeForm({
  committed,
  comparison,
  bond,
  decimals,
  onReview,
  onCancel,
}: {
  committed: Uint8Array;
  comparison: ModelAccount["comparison"] | undefined;
  bond: bigint;
  decimals: number;
  onReview: (output: Uint8Array) => void;
  onCancel: () => void;
}) {
  const { showError } = useSibyl();
  const byClass = !!comparison && "topK" in comparison;
  const tensors = (() => {
    try {
      return decodeTensors(committed);
    } catch {
      return [];
    }
  })();
  const classes = tensors[0]?.values.length ?? 0;
  const [klass, setKlass] = useState(0);
  const [json, setJson] = useState("");
  if (tensors.length > 1) {
    return (
      <div className="challenge" data-testid="challenge-form">
        <h3>Challenge this result</h3>
        <p>
          This output has {tensors.length} tensors ({tensors.map((tensor) => tensor.name).join(", ")}); the app challenges
          single-tensor outputs only. Run <code>sibyl challenge REQUEST</code>, which re-runs the model and posts its whole output.
        </p>
        <div className="actions">
          <button type="button" onClick={onCancel}>
            Back
          </button>
        </div>
      </div>
    );
  }
  return (
    <div className="challenge" data-testid="challenge-form">
      <h3>Challenge this result</h3>
      <p>
        You post a bond of <strong>{formatUnits(bond, decimals)} tokens</strong>. Staked verifiers re-run the model and vote: if they side with
        you, the operator is slashed and you get your bond back with a reward; if the result stands, you lose the bond.
      </p>
      {byClass ? (
        <label>
          The correct class is{" "}
          <select aria-label="Correct class" value={klass} onChange={(event) => setKlass(Number(event.target.value))}>
            {Array.from({ length: classes }, (_, i) => (
              <option key={i} value={i}>
                {i}
              </option>
            ))}
          </select>
        </label>
      ) : (
        <textarea
          aria-label="The correct output as a JSON array"
          rows={3}
          placeholder="The correct output values, as a JSON array"
          value={json}
          onChange={(event) => setJson(event.target.value)}
        />
      )}
      <div className="actions">
        <button
          type="button"
          className="primary"
          onClick={() => {
            try {
              const values = byClass ? null : (JSON.parse(json) as unknown);
              if (values !== null && !(Array.isArray(values) && values.every((v) => typeof v === "number"))) {
                throw new Error("The output must be a JSON array of numbers.");
              }
              onReview(byClass ? oneHotOutput(committed, klass) : outputWithValues(committed, values as number[]));
            } catch (err) {
              showError(err);
            }
          }}
        >
          Review challenge
        </button>
        <button type="button" onClick={onCancel}>
          Back
        </button>
      </div>
    </div>
  );
}
