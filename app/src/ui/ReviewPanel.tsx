import { useState } from "react";
import { formatSol, formatUnits } from "../app/amounts.js";
import type { Review } from "../app/chain.js";

/** What a transaction will cost and do, shown before the wallet is asked to sign. */
export function ReviewPanel({
  review,
  tokensLabel,
  decimals,
  confirmLabel,
  onConfirm,
  onBack,
}: {
  review: Review;
  tokensLabel: string;
  decimals: number;
  confirmLabel: string;
  onConfirm: (progress: (text: string) => void) => Promise<void>;
  onBack: () => void;
}) {
  const [progress, setProgress] = useState<string | null>(null);
  return (
    <div className="review" data-testid="review">
      <h3>Review before signing</h3>
      <dl>
        {review.tokens > 0n && (
          <>
            <dt>{tokensLabel}</dt>
            <dd data-testid="review-tokens">{formatUnits(review.tokens, decimals)} tokens</dd>
          </>
        )}
        <dt>Network fee</dt>
        <dd data-testid="review-network-fee">{formatSol(review.networkFeeLamports)} SOL</dd>
        {review.depositLamports > 0n && (
          <>
            <dt>Refundable deposit (account rent)</dt>
            <dd data-testid="review-deposit">{formatSol(review.depositLamports)} SOL, returned when the accounts close</dd>
          </>
        )}
        <dt>{review.transactions.length > 1 ? `${review.transactions.length} transactions` : "Transaction"}</dt>
        <dd>
          <ol className="instructions" data-testid="review-instructions">
            {review.instructions.map((ix, i) => (
              <li key={i}>
                {ix.program}: <code>{ix.name}</code>
              </li>
            ))}
          </ol>
          <small>
            {review.sizeBytes.map((n) => `${n} bytes`).join(", ")} · fee payer {review.transactions[0]?.feePayer?.toBase58()}
          </small>
        </dd>
      </dl>
      <div className="actions">
        <button
          type="button"
          className="primary"
          disabled={progress !== null}
          onClick={() => {
            setProgress("…");
            onConfirm(setProgress).finally(() => setProgress(null));
          }}
        >
          {confirmLabel}
        </button>
        <button type="button" onClick={onBack} disabled={progress !== null}>
          Back
        </button>
        {progress && (
          <span className="progress" role="status">
            {progress}
          </span>
        )}
      </div>
    </div>
  );
}
