import type { WalletError } from "@solana/wallet-adapter-base";
import { ConnectionProvider, WalletProvider } from "@solana/wallet-adapter-react";
import { WalletModalProvider } from "@solana/wallet-adapter-react-ui";
import type { PublicKey } from "@solana/web3.js";
import { useMemo, useState } from "react";
import { clusterFromQuery } from "../app/cluster.js";
import { testWallets } from "../wallet/localKeypair.js";
import { ErrorBanner } from "./ErrorBanner.js";
import { Header } from "./Header.js";
import { ModelList } from "./ModelList.js";
import { MyRequests } from "./MyRequests.js";
import { RequestForm } from "./RequestForm.js";
import { RequestView } from "./RequestView.js";
import { SibylProvider, useSibyl } from "./state.js";

export function App() {
  const cluster = useMemo(() => clusterFromQuery(window.location.search), []);
  // Browser wallets (Phantom, Solflare, Backpack…) announce themselves
  // through the Wallet Standard and are listed without being named here.
  const wallets = useMemo(() => testWallets(), []);
  // Errors while connecting (a wallet that refuses, one not installed) are shown like any other.
  const [walletError, setWalletError] = useState<WalletError | null>(null);
  return (
    <ConnectionProvider endpoint={cluster.rpc} config={{ commitment: "confirmed", wsEndpoint: cluster.ws }}>
      <WalletProvider wallets={wallets} autoConnect onError={setWalletError}>
        <WalletModalProvider>
          <SibylProvider cluster={cluster} walletError={walletError}>
            <Page />
          </SibylProvider>
        </WalletModalProvider>
      </WalletProvider>
    </ConnectionProvider>
  );
}

function Page() {
  const { protocol, models, cluster } = useSibyl();
  const [selected, setSelected] = useState<string | null>(null);
  const [following, setFollowing] = useState<PublicKey | null>(null);
  const model = models.find((m) => m.address.toBase58() === selected) ?? null;
  return (
    <>
      <Header />
      <main>
        <ErrorBanner />
        {protocol?.paused && (
          <p className="notice" role="status">
            The protocol is paused by its authority: new requests and commits are refused until it resumes.
          </p>
        )}
        {protocol === null && (
          <p className="notice" role="status">
            Sibyl is not initialized on {cluster.label} ({cluster.rpc}). On the localnet, start it with <code>make app</code>.
          </p>
        )}
        <ModelList selected={selected} onSelect={setSelected} />
        {model && <RequestForm key={model.address.toBase58()} model={model} onSubmitted={setFollowing} />}
        {following && <RequestView key={following.toBase58()} address={following} />}
        <MyRequests following={following} onOpen={setFollowing} />
      </main>
    </>
  );
}
