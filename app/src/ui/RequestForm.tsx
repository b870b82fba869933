import { useWallet } from "@solana/wallet-adapter-react";
import type { PublicKey } from "@solana/web3.js";
import { useState } from "react";
import { formatUnits } from "../app/amounts.js";
import { planRequest, specsText, tensorSpecs, type ModelRow, type RequestPlan } from "../app/chain.js";
import { takesDigitImage } from "../app/digits.js";
import { NoWalletError } from "../app/errors.js";
import { signAndSend } from "../app/send.js";
import { inputFromJson, inputFromValues, type TensorSpec } from "../sibyl/encoding.js";
import { DigitCanvas, DigitPreview } from "./DigitCanvas.js";
import { ReviewPanel } from "./ReviewPanel.js";
import { useSibyl, useSigner } from "./state.js";

/** The input for one model, the fee, and the review before paying. */
export function RequestForm({ model, onSubmitted }: { model: ModelRow; onSubmitted: (request: PublicKey) => void }) {
  const { program, protocol, balances, showError, clearError, refresh } = useSibyl();
  const { publicKey } = useWallet();
  const signer = useSigner();
  const specs = tensorSpecs(model.account.inputs);
  const [only] = specs;
  const single = specs.length === 1 ? only : undefined;
  const canDraw = single !== undefined && takesDigitImage(single);
  const [mode, setMode] = useState<"draw" | "json">(canDraw ? "draw" : "json");
  const [digit, setDigit] = useState<number[] | null>(null);
  const [json, setJson] = useState("");
  const [plan, setPlan] = useState<RequestPlan | null>(null);
  if (!protocol) return null;

  const review = async () => {
    clearError();
    try {
      if (!publicKey || !balances) throw new NoWalletError();
      const input =
        mode === "draw" && single
          ? digit
            ? inputFromValues(digit, single)
            : (() => {
                throw new Error("Draw a digit first.");
              })()
          : inputFromJson(json, specs);
      setPlan(await planRequest(program, protocol, model, input, publicKey, balances));
    } catch (err) {
      showError(err);
    }
  };

  return (
    <section className="request-form" data-testid="request-form">
      <h2>Ask {model.name}</h2>
      <p>
        {specs.length === 1 ? "Input" : "Inputs"}: {specsText(specs)} · price {formatUnits(model.account.price.toString(), protocol.decimals)} tokens,
        held in escrow until the result is final.
      </p>
      {canDraw && (
        <div className="tabs" role="tablist">
          <button type="button" role="tab" aria-selected={mode === "draw"} onClick={() => setMode("draw")}>
            Draw a digit
          </button>
          <button type="button" role="tab" aria-selected={mode === "json"} onClick={() => setMode("json")}>
            Paste JSON
          </button>
        </div>
      )}
      {mode === "draw" ? (
        <div className="draw">
          <DigitCanvas onChange={setDigit} />
          {digit && <DigitPreview values={digit} />}
        </div>
      ) : (
        <textarea
          aria-label={single ? "Input as a JSON array" : "Inputs as one JSON object keyed by name"}
          data-testid="json-input"
          rows={4}
          placeholder={jsonPlaceholder(specs)}
          value={json}
          onChange={(event) => setJson(event.target.value)}
        />
      )}
      {plan ? (
        <ReviewPanel
          review={plan}
          tokensLabel="Inference fee (escrowed)"
          decimals={protocol.decimals}
          confirmLabel="Sign and pay"
          onBack={() => setPlan(null)}
          onConfirm={async (progress) => {
            try {
              if (!signer) throw new NoWalletError();
              await signAndSend(program.provider.connection, signer, plan, progress);
              onSubmitted(plan.request);
              setPlan(null);
              refresh();
            } catch (err) {
              showError(err);
              setPlan(null);
            }
          }}
        />
      ) : (
        <button type="button" className="primary" onClick={review}>
          Review payment
        </button>
      )}
    </section>
  );
}

/** What to paste: an array of N numbers for one input, an object keyed by name for several. */
function jsonPlaceholder(specs: readonly TensorSpec[]): string {
  const count = (spec: TensorSpec) => spec.shape.filter((d) => d > 0).reduce((a, b) => a * b, 1);
  const [only] = specs;
  if (specs.length === 1 && only) {
    return only.shape.length === 0 ? "One number, e.g. 16000" : `A JSON array of ${count(only)} numbers, e.g. [1, 2, 3, …]`;
  }
  return `One JSON object keyed by input name, e.g. {${specs.map((spec) => `"${spec.name}": ${spec.shape.length === 0 ? "1" : "[…]"}`).join(", ")}}`;
}
