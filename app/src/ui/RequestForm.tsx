import { useWallet } from "@solana/wallet-adapter-react";
import type { PublicKey } from "@solana/web3.js";
import { useState } from "react";
import { formatUnits } from "../app/amounts.js";
import { planRequest, tensorSpec, type ModelRow, type RequestPlan } from "../app/chain.js";
import { takesDigitImage } from "../app/digits.js";
import { NoWalletError } from "../app/errors.js";
import { signAndSend } from "../app/send.js";
import { inputFromJson, inputFromValues } from "../sibyl/encoding.js";
import { DigitCanvas, DigitPreview } from "./DigitCanvas.js";
import { ReviewPanel } from "./ReviewPanel.js";
import { useSibyl, useSigner } from "./state.js";

/** The input for one model, the fee, and the review before paying. */
export function RequestForm({ model, onSubmitted }: { model: ModelRow; onSubmitted: (request: PublicKey) => void }) {
  const { program, protocol, balances, showError, clearError, refresh } = useSibyl();
  const { publicKey } = useWallet();
  const signer = useSigner();
  const spec = tensorSpec(model.account.inputSpec);
  const canDraw = takesDigitImage(spec);
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
        mode === "draw"
          ? digit
            ? inputFromValues(digit, spec)
            : (() => {
                throw new Error("Draw a digit first.");
              })()
          : inputFromJson(json, spec);
      setPlan(await planRequest(program, protocol, model, input, publicKey, balances));
    } catch (err) {
      showError(err);
    }
  };

  return (
    <section className="request-form" data-testid="request-form">
      <h2>Ask {model.name}</h2>
      <p>
        Input: {spec.dtype} [{spec.shape.join(" × ")}] · price {formatUnits(model.account.price.toString(), protocol.decimals)} tokens,
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
          aria-label="Input as a JSON array"
          data-testid="json-input"
          rows={4}
          placeholder={`A JSON array of ${spec.shape.filter((d) => d > 0).reduce((a, b) => a * b, 1)} numbers, e.g. [1, 2, 3, …]`}
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
