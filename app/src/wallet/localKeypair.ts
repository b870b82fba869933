// A wallet adapter that signs with a keypair held by the page: how the
// browser tests pay without a browser extension. It exists only when the
// page was given a keypair before the app loaded (`window.sibylTestWallet`,
// set by the tests' init script); a user's browser never has one.
import {
  BaseSignerWalletAdapter,
  WalletNotConnectedError,
  WalletReadyState,
  WalletSignTransactionError,
  type TransactionOrVersionedTransaction,
  type WalletAdapterEvents,
  type WalletName,
} from "@solana/wallet-adapter-base";
import { Keypair, Transaction, VersionedTransaction, type PublicKey } from "@solana/web3.js";

export interface TestWalletSetup {
  /** The 64-byte secret key, as in a Solana CLI keypair file. */
  secretKey: number[];
  /** When set, the next signature request is rejected, as a user pressing "Reject" would. */
  rejectNext?: boolean;
}

declare global {
  interface Window {
    sibylTestWallet?: TestWalletSetup;
  }
}

export const LocalKeypairWalletName = "Local keypair (tests)" as WalletName<"Local keypair (tests)">;

const ICON =
  "data:image/svg+xml;base64," +
  btoa('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#444"/><text x="16" y="22" font-size="16" text-anchor="middle" fill="#fff">K</text></svg>');

export class LocalKeypairWalletAdapter extends BaseSignerWalletAdapter {
  name = LocalKeypairWalletName;
  url = "https://github.com/sibyl-oracle/sibyl";
  icon = ICON;
  readonly supportedTransactionVersions = new Set(["legacy", 0] as const);
  private keypair: Keypair | null = null;

  constructor(private readonly setup: TestWalletSetup) {
    super();
  }

  // eventemitter3's typings do not resolve under `nodenext`; `emit` is there at run time.
  private signal<E extends keyof WalletAdapterEvents>(event: E, ...args: Parameters<WalletAdapterEvents[E]>): void {
    (this as unknown as { emit(event: string, ...args: unknown[]): boolean }).emit(event, ...args);
  }

  get publicKey(): PublicKey | null {
    return this.keypair?.publicKey ?? null;
  }

  get connecting(): boolean {
    return false;
  }

  get readyState(): WalletReadyState {
    return WalletReadyState.Loadable;
  }

  async connect(): Promise<void> {
    this.keypair = Keypair.fromSecretKey(Uint8Array.from(this.setup.secretKey));
    this.signal("connect", this.keypair.publicKey);
  }

  async disconnect(): Promise<void> {
    this.keypair = null;
    this.signal("disconnect");
  }

  async signTransaction<T extends TransactionOrVersionedTransaction<this["supportedTransactionVersions"]>>(
    transaction: T,
  ): Promise<T> {
    const keypair = this.keypair;
    if (!keypair) throw new WalletNotConnectedError();
    if (this.setup.rejectNext) {
      this.setup.rejectNext = false;
      const error = new WalletSignTransactionError("User rejected the request.");
      this.signal("error", error);
      throw error;
    }
    if (transaction instanceof VersionedTransaction) transaction.sign([keypair]);
    else (transaction as Transaction).partialSign(keypair);
    return transaction;
  }
}

/** The test wallet when the page was given one, else nothing. */
export function testWallets(): LocalKeypairWalletAdapter[] {
  const setup = typeof window === "undefined" ? undefined : window.sibylTestWallet;
  return setup ? [new LocalKeypairWalletAdapter(setup)] : [];
}
