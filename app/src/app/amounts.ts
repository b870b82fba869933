// Amounts in base units shown as decimal numbers.

/** `amount` base units of a token with `decimals` decimals, trailing zeros trimmed ("0.01"). */
export function formatUnits(amount: bigint | number | { toString(): string }, decimals: number): string {
  const value = BigInt(amount.toString());
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const scale = 10n ** BigInt(decimals);
  const whole = abs / scale;
  const fraction = (abs % scale).toString().padStart(decimals, "0").replace(/0+$/, "");
  return `${negative ? "-" : ""}${whole}${fraction ? `.${fraction}` : ""}`;
}

/** Lamports as SOL ("0.000005"). */
export const formatSol = (lamports: bigint | number): string => formatUnits(lamports, 9);

/** A public key shortened for display: "B3N5…3Xx". */
export function shortKey(key: { toBase58(): string } | string): string {
  const text = typeof key === "string" ? key : key.toBase58();
  return text.length <= 10 ? text : `${text.slice(0, 4)}…${text.slice(-4)}`;
}
