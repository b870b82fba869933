import { useWallet } from "@solana/wallet-adapter-react";
import { PublicKey } from "@solana/web3.js";
import { useState } from "react";
import { shortKey } from "../app/amounts.js";
import { variant } from "../app/chain.js";
import { useSibyl } from "./state.js";

/** The wallet's open requests, and any request opened by its address. */
export function MyRequests({ following, onOpen }: { following: PublicKey | null; onOpen: (request: PublicKey) => void }) {
  const { models, myRequests: mine, showError } = useSibyl();
  const { publicKey } = useWallet();
  const [typed, setTyped] = useState("");
  return (
    <section className="my-requests">
      <h2>Your requests</h2>
      {mine.length === 0 ? (
        <p className="muted">{publicKey ? "No open requests." : "Connect a wallet to see your requests."}</p>
      ) : (
        <ul>
          {mine.map(({ publicKey: address, account }) => (
            <li key={address.toBase58()}>
              <button type="button" onClick={() => onOpen(address)} disabled={following?.equals(address)}>
                {shortKey(address)} · {models.find((m) => m.address.equals(account.model))?.name ?? shortKey(account.model)} ·{" "}
                {variant(account.status)}
              </button>
            </li>
          ))}
        </ul>
      )}
      <form
        onSubmit={(event) => {
          event.preventDefault();
          try {
            onOpen(new PublicKey(typed.trim()));
          } catch {
            showError(new Error(`"${typed}" is not a request address.`));
          }
        }}
      >
        <input aria-label="Request address" placeholder="Follow any request by its address" value={typed} onChange={(e) => setTyped(e.target.value)} />
        <button type="submit">Follow</button>
      </form>
    </section>
  );
}
