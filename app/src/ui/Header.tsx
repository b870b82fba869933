import { WalletMultiButton } from "@solana/wallet-adapter-react-ui";
import { DEVNET, LOCALNET, queryFor } from "../app/cluster.js";
import { formatSol, formatUnits, shortKey } from "../app/amounts.js";
import { useSibyl } from "./state.js";

export function Header() {
  const { cluster, protocol, balances } = useSibyl();
  const choices = cluster.id === "custom" ? [cluster, LOCALNET, DEVNET] : [LOCALNET, DEVNET];
  return (
    <header>
      <h1>Sibyl</h1>
      <span className="tagline">verifiable AI inference on Solana</span>
      <label className="cluster">
        Cluster{" "}
        <select
          aria-label="Cluster"
          value={cluster.id}
          onChange={(event) => {
            const next = choices.find((c) => c.id === event.target.value);
            if (next) window.location.search = queryFor(next);
          }}
        >
          {choices.map((c) => (
            <option key={c.id} value={c.id}>
              {c.label}
            </option>
          ))}
        </select>
      </label>
      {balances && protocol && (
        <span className="balances" data-testid="balances">
          <span data-testid="sol-balance">{formatSol(balances.lamports)} SOL</span>
          <span data-testid="token-balance" title={`payment mint ${protocol.mint.toBase58()}`}>
            {formatUnits(balances.tokens, protocol.decimals)} tokens ({shortKey(protocol.mint)})
          </span>
        </span>
      )}
      <WalletMultiButton />
    </header>
  );
}
