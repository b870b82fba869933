// The app's shared state: the cluster, the program client, the protocol,
// the models, the wallet's balances and open requests, and the one error
// shown at the top.
import { useConnection, useWallet } from "@solana/wallet-adapter-react";
import { Keypair, type Transaction } from "@solana/web3.js";
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { makeProgram, type SibylProgram, type SibylWallet } from "../sibyl/client.js";
import {
  loadBalances,
  loadModels,
  loadMyRequests,
  loadProtocol,
  type Balances,
  type ModelRow,
  type MyRequest,
  type Protocol,
} from "../app/chain.js";
import type { Cluster } from "../app/cluster.js";
import { plainError, type PlainError } from "../app/errors.js";

interface SibylState {
  cluster: Cluster;
  program: SibylProgram;
  /** undefined while loading; null when Sibyl is not initialized on the cluster. */
  protocol: Protocol | null | undefined;
  models: ModelRow[];
  balances: Balances | null;
  /** The connected wallet's requests whose accounts are still open, newest first. */
  myRequests: MyRequest[];
  error: PlainError | null;
  showError: (err: unknown) => void;
  clearError: () => void;
  /** Reads models, balances and the wallet's requests again (after a transaction). */
  refresh: () => void;
}

const Context = createContext<SibylState | null>(null);

export function useSibyl(): SibylState {
  const state = useContext(Context);
  if (!state) throw new Error("useSibyl outside SibylProvider");
  return state;
}

/** Reads need no signer; Anchor's provider still wants a wallet object. */
const READ_ONLY: SibylWallet = {
  publicKey: Keypair.generate().publicKey,
  signTransaction: async () => {
    throw new Error("read-only");
  },
  signAllTransactions: async () => {
    throw new Error("read-only");
  },
} as unknown as SibylWallet;

const REFRESH_MS = 2000;

export function SibylProvider({
  cluster,
  walletError,
  children,
}: {
  cluster: Cluster;
  walletError: unknown;
  children: ReactNode;
}) {
  const { connection } = useConnection();
  const { publicKey } = useWallet();
  const program = useMemo(() => makeProgram(connection, READ_ONLY), [connection]);
  const [protocol, setProtocol] = useState<Protocol | null | undefined>(undefined);
  const [models, setModels] = useState<ModelRow[]>([]);
  const [balances, setBalances] = useState<Balances | null>(null);
  const [myRequests, setMyRequests] = useState<MyRequest[]>([]);
  const [error, setError] = useState<PlainError | null>(null);
  const [tick, setTick] = useState(0);
  const showError = useCallback((err: unknown) => {
    console.error(err);
    setError(plainError(err, cluster));
  }, [cluster]);
  const clearError = useCallback(() => setError(null), []);
  const refresh = useCallback(() => setTick((t) => t + 1), []);

  useEffect(() => {
    loadProtocol(program).then(setProtocol, showError);
  }, [program, showError]);

  useEffect(() => {
    if (walletError) showError(walletError);
  }, [walletError, showError]);

  useEffect(() => {
    if (!protocol) return;
    let live = true;
    const load = async () => {
      const [rows, held, mine] = await Promise.all([
        loadModels(program),
        publicKey ? loadBalances(connection, publicKey, protocol) : Promise.resolve(null),
        publicKey ? loadMyRequests(program, publicKey) : Promise.resolve([]),
      ]);
      if (live) {
        setModels(rows);
        setBalances(held);
        setMyRequests(mine);
      }
    };
    load().catch(showError);
    const timer = setInterval(() => load().catch(() => {}), REFRESH_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [program, protocol, publicKey, connection, tick, showError]);

  const value = useMemo(
    () => ({ cluster, program, protocol, models, balances, myRequests, error, showError, clearError, refresh }),
    [cluster, program, protocol, models, balances, myRequests, error, showError, clearError, refresh],
  );
  return <Context.Provider value={value}>{children}</Context.Provider>;
}

/** The connected wallet as a signer, or null. */
export function useSigner(): { signAllTransactions: <T extends Transaction>(txs: T[]) => Promise<T[]> } | null {
  const { signAllTransactions, publicKey } = useWallet();
  return useMemo(
    () =>
      publicKey && signAllTransactions
        ? { signAllTransactions: <T extends Transaction>(txs: T[]) => signAllTransactions(txs) as Promise<T[]> }
        : null,
    [publicKey, signAllTransactions],
  );
}
