// Amounts in base units shown as decimal numbers, and typed back in.

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

/** A decimal string ("1.5") in base units; throws on anything else or on too many decimals. */
export function parseUnits(text: string, decimals: number): bigint {
  const match = /^\s*(\d+)(?:\.(\d*))?\s*$/.exec(text);
  if (!match) throw new RangeError(`"${text}" is not an amount`);
  const fraction = match[2] ?? "";
  if (fraction.length > decimals) throw new RangeError(`at most ${decimals} decimals`);
  return BigInt(match[1]!) * 10n ** BigInt(decimals) + BigInt(fraction.padEnd(decimals, "0") || "0");
}

/** A public key shortened for display: "B3N5…3Xx". */
export function shortKey(key: { toBase58(): string } | string): string {
  const text = typeof key === "string" ? key : key.toBase58();
  return text.length <= 10 ? text : `${text.slice(0, 4)}…${text.slice(-4)}`;
}
