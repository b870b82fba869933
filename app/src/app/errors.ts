// Every error a user can cause, in plain words. Wallet errors come from the
// wallet adapter, transaction errors from web3.js (with the program's logs),
// and Sibyl's own errors are named by the IDL.
import { SIBYL_ERRORS } from "../generated/sibyl.js";
import { PROGRAM_ADDRESS } from "../generated/sibyl.js";
import { formatUnits } from "./amounts.js";

export interface PlainError {
  /** One sentence: what happened. */
  title: string;
  /** What to do about it, or the detail behind it. */
  detail?: string;
  /** The program error's IDL name, when a program refused. */
  code?: string;
}

/** Raised by the app before signing, when the wallet holds less than a payment needs. */
export class InsufficientTokensError extends Error {
  override name = "InsufficientTokensError";
  constructor(
    readonly needed: bigint,
    readonly held: bigint,
    readonly decimals: number,
    readonly what: string,
  ) {
    super(`not enough tokens: ${what} needs ${needed}, the wallet holds ${held}`);
  }
}

/** Raised when an action needs a connected wallet. */
export class NoWalletError extends Error {
  override name = "NoWalletError";
  constructor() {
    super("no wallet is connected");
  }
}

const TOKEN_PROGRAMS = new Set([
  "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
  "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb",
]);

/** `Program X failed: custom program error: 0x1770` in logs or a message. */
function customErrors(text: string): { program: string | null; code: number }[] {
  const found: { program: string | null; code: number }[] = [];
  for (const m of text.matchAll(/Program (\w+) failed: custom program error: 0x([0-9a-f]+)/gi)) {
    found.push({ program: m[1]!, code: parseInt(m[2]!, 16) });
  }
  if (found.length === 0) {
    for (const m of text.matchAll(/custom program error: 0x([0-9a-f]+)/gi)) {
      found.push({ program: null, code: parseInt(m[1]!, 16) });
    }
  }
  return found;
}

function sibylProgramError(code: number): PlainError | null {
  const known = SIBYL_ERRORS[code];
  if (!known) return null;
  return {
    title: `The Sibyl program refused the transaction: ${known.name}.`,
    detail: known.msg,
    code: known.name,
  };
}

function textOf(err: unknown): string {
  if (err instanceof Error) {
    const logs = (err as { logs?: unknown }).logs;
    const extra = Array.isArray(logs) ? `\n${logs.join("\n")}` : "";
    const cause = err.cause instanceof Error ? `\n${err.cause.message}` : "";
    return `${err.name}: ${err.message}${cause}${extra}`;
  }
  return String(err);
}

/** The plain-words form of any error the app can meet. */
export function plainError(err: unknown, cluster?: { label: string; rpc: string }): PlainError {
  if (err instanceof NoWalletError || (err instanceof Error && err.name === "WalletNotConnectedError")) {
    return { title: "Connect a wallet first.", detail: "Use “Select Wallet” at the top of the page." };
  }
  if (err instanceof InsufficientTokensError) {
    return {
      title: `Not enough tokens: ${err.what} costs ${formatUnits(err.needed, err.decimals)}, and your wallet holds ${formatUnits(err.held, err.decimals)}.`,
      detail: "Add payment tokens to this wallet, then try again. Nothing was signed or paid.",
    };
  }
  const text = textOf(err);
  if (err instanceof Error && err.name === "WalletNotReadyError") {
    return { title: "That wallet is not available in this browser.", detail: "Install it, or pick another wallet." };
  }
  if (/user rejected|rejected the request|declined|WalletSignTransactionError|WalletSendTransactionError.*reject/i.test(text)) {
    return {
      title: "You rejected the signature in your wallet.",
      detail: "Nothing was sent and nothing was paid.",
    };
  }
  if (/block ?height exceeded|has expired|Blockhash not found|BlockhashNotFound|TransactionExpired/i.test(text)) {
    return {
      title: "The transaction expired before it landed: its blockhash is too old.",
      detail: "Nothing was paid. Try again; the app fetches a fresh blockhash each time.",
    };
  }
  for (const { program, code } of customErrors(text)) {
    if (program === null || program === PROGRAM_ADDRESS) {
      const sibyl = sibylProgramError(code);
      if (sibyl) return sibyl;
    }
    if ((program === null || TOKEN_PROGRAMS.has(program)) && code === 1) {
      return {
        title: "Not enough tokens: the token program refused the payment (insufficient funds).",
        detail: "Add payment tokens to this wallet, then try again.",
      };
    }
  }
  const anchor = /Error Code: (\w+)\. Error Number: (\d+)\. Error Message: ([^\n]*)/.exec(text);
  if (anchor) {
    const known = sibylProgramError(Number(anchor[2]));
    if (known) return known;
    return { title: `The program refused the transaction: ${anchor[1]}.`, detail: anchor[3]!, code: anchor[1]! };
  }
  if (/no record of a prior credit|AccountNotFound|insufficient lamports|InsufficientFundsForFee/i.test(text)) {
    return {
      title: "Your wallet has too little SOL to pay the network fee and deposits.",
      detail: "Add SOL to this wallet (on localnet or devnet, airdrop some), then try again.",
    };
  }
  if (/Failed to fetch|NetworkError|ECONNREFUSED|fetch failed|Load failed/i.test(text)) {
    return {
      title: `Cannot reach the cluster${cluster ? ` (${cluster.label}, ${cluster.rpc})` : ""}.`,
      detail: cluster?.rpc.includes("127.0.0.1")
        ? "Start the localnet with `make app`, or choose another cluster."
        : "Check your connection, or choose another cluster.",
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { title: "Something went wrong.", detail: message };
}
