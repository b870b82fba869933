// Signing and sending what the user reviewed: every transaction signed in
// one wallet prompt, then sent and confirmed in order.
import type { Connection, Transaction } from "@solana/web3.js";
import type { Review } from "./chain.js";

export interface Signer {
  signAllTransactions<T extends Transaction>(transactions: T[]): Promise<T[]>;
}

/** A transaction the cluster accepted but whose execution failed. */
export class TransactionFailedError extends Error {
  override name = "TransactionFailedError";
  constructor(
    readonly signature: string,
    readonly logs: string[],
    detail: string,
  ) {
    super(`transaction ${signature} failed: ${detail}`);
  }
}

export async function signAndSend(
  connection: Connection,
  wallet: Signer,
  review: Review,
  progress: (text: string) => void,
): Promise<string[]> {
  progress("Waiting for your wallet to sign…");
  const signed = await wallet.signAllTransactions(review.transactions);
  const signatures: string[] = [];
  for (const [index, tx] of signed.entries()) {
    progress(signed.length > 1 ? `Sending transaction ${index + 1} of ${signed.length}…` : "Sending…");
    const signature = await connection.sendRawTransaction(tx.serialize(), { preflightCommitment: "confirmed" });
    progress(signed.length > 1 ? `Confirming transaction ${index + 1} of ${signed.length}…` : "Confirming…");
    const result = await connection.confirmTransaction(
      { signature, blockhash: tx.recentBlockhash!, lastValidBlockHeight: tx.lastValidBlockHeight! },
      "confirmed",
    );
    if (result.value.err) {
      const details = await connection.getTransaction(signature, { commitment: "confirmed", maxSupportedTransactionVersion: 0 });
      throw new TransactionFailedError(signature, details?.meta?.logMessages ?? [], JSON.stringify(result.value.err));
    }
    signatures.push(signature);
  }
  return signatures;
}
