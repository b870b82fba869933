// Output views (consumer/src/state/view.rs): what of each output tensor a
// model's on-chain result holds. The request's `output` is the *result*,
// the canonical encoding of each output's view in graph order (omitted ones
// left out); the whole output travels off chain, named by its SHA-256
// (`wholeOutputSha256`), served by operators' nodes at
// `GET {outputUrl}/outputs/{sha256 hex}`. `project` is byte for byte the
// program's `sibyl::state::project`, so a client that fetches a whole
// output checks it against both the hash and the result on chain.
import type { IdlTypes } from "@coral-xyz/anchor";
import type { Sibyl } from "../generated/sibyl.js";
import { decodeRawTensors, DTYPES, encodeRawTensors, EncodingError, rawValues, type RawTensor } from "./encoding.js";

/** One output's view, as the IDL decodes it: `{ whole: {} }`, `{ slice: { start, len } }`, `{ topK: { k, scale } }` or `{ omitted: {} }`. */
export type OutputView = IdlTypes<Sibyl>["outputView"];

/** Whether every output is whole (or there are no views): the result is the whole output. */
export function allWhole(views: readonly OutputView[]): boolean {
  return views.every((view) => "whole" in view);
}

/** `whole`, `omit`, `slice:START:LEN` or `topk:K:SCALE` (the CLI's and models/families.py's words) as a view. */
export function parseView(text: string): OutputView {
  const parts = text.trim().split(":");
  const numbers = parts.slice(1).map((p) => (/^\d+$/.test(p) ? Number(p) : NaN));
  if (parts.length === 1 && parts[0] === "whole") return { whole: {} };
  if (parts.length === 1 && parts[0] === "omit") return { omitted: {} };
  if (parts.length === 3 && numbers.every(Number.isSafeInteger)) {
    const [a, b] = numbers as [number, number];
    if (parts[0] === "slice") return { slice: { start: a, len: b } };
    if (parts[0] === "topk") return { topK: { k: a, scale: b } };
  }
  throw new EncodingError(`\`${text}\` is not a view: write whole, omit, slice:START:LEN or topk:K:SCALE`);
}

/** `round(value × scale)` in float64, half away from zero, saturated to int32; NaN is 0 (Rust's `as i32`). */
export function fixedPoint(value: number, scale: number): number {
  const x = value * scale;
  if (Number.isNaN(x)) return 0;
  const rounded = Math.sign(x) * Math.round(Math.abs(x));
  return Math.min(2147483647, Math.max(-2147483648, rounded)) || 0;
}

/**
 * Rust's `f64::total_cmp` on values whose sign bits are given (a NaN's sign
 * is lost in a JS number): -NaN < -∞ < … < -0 < +0 < … < +∞ < +NaN (NaN
 * payloads are not compared).
 */
function totalCmp(a: number, aNegative: boolean, b: number, bNegative: boolean): number {
  const nanClass = (v: number, negative: boolean) => (Number.isNaN(v) ? (negative ? -1 : 1) : 0);
  const ca = nanClass(a, aNegative);
  const cb = nanClass(b, bNegative);
  if (ca !== 0 || cb !== 0) return ca - cb;
  if (a < b) return -1;
  if (a > b) return 1;
  return (aNegative ? 0 : 1) - (bNegative ? 0 : 1); // -0 below +0; otherwise equal
}

/** The `k` best classes of one row, best first, ties to the lower index (the SDK's `top_k`). */
function topK(row: readonly number[], negative: readonly boolean[], k: number): number[] {
  const indices = row.map((_, i) => i);
  indices.sort((a, b) => totalCmp(row[b]!, negative[b]!, row[a]!, negative[a]!) || a - b);
  return indices.slice(0, k);
}

/** This view of `tensor`, or null when omitted; throws when the tensor does not admit the view. */
function projectTensor(view: OutputView, tensor: RawTensor): RawTensor | null {
  const misfit = () => new EncodingError(`output \`${tensor.name}\` does not admit its view`);
  if ("whole" in view) return tensor;
  if ("omitted" in view) return null;
  const size = DTYPES[tensor.dtype].size;
  if ("slice" in view && view.slice) {
    const { start, len } = view.slice;
    const from = start * size;
    const to = from + len * size;
    if (to > tensor.data.length) throw misfit();
    return { name: tensor.name, dtype: tensor.dtype, dims: [len], data: tensor.data.slice(from, to) };
  }
  if ("topK" in view && view.topK) {
    const { k, scale } = view.topK;
    const classes = tensor.dims[tensor.dims.length - 1];
    if (classes === undefined || !tensor.dtype.startsWith("float") || classes < k || classes === 0) throw misfit();
    const values = rawValues(tensor);
    // The sign bit of each element: the top bit of its last (little-endian) byte.
    const negative = values.map((_, i) => (tensor.data[(i + 1) * size - 1]! & 0x80) !== 0);
    const rows = values.length / classes;
    const data = new Uint8Array(rows * k * 8);
    const out = new DataView(data.buffer);
    let at = 0;
    for (let r = 0; r < rows; r++) {
      const row = values.slice(r * classes, (r + 1) * classes);
      const signs = negative.slice(r * classes, (r + 1) * classes);
      for (const klass of topK(row, signs, k)) {
        out.setInt32(at, klass, true);
        out.setInt32(at + 4, fixedPoint(row[klass]!, scale), true);
        at += 8;
      }
    }
    return { name: tensor.name, dtype: "int32", dims: [...tensor.dims.slice(0, -1), k, 2], data };
  }
  throw new EncodingError(`unknown output view ${JSON.stringify(view)}`);
}

/**
 * The result of a whole output (a canonical encoding) under `views`: each
 * tensor's view, in order, canonically encoded (omitted ones left out).
 * With no views, or every view whole, the result is the whole output
 * itself. Throws `EncodingError` when the whole output does not admit the
 * views (not an encoding, another number of tensors, a tensor that does
 * not fit its view).
 */
export function project(views: readonly OutputView[], whole: Uint8Array): Uint8Array {
  if (allWhole(views)) return Uint8Array.from(whole);
  const tensors = decodeRawTensors(whole);
  if (tensors.length !== views.length) {
    throw new EncodingError(`the whole output has ${tensors.length} tensors, the model's views ${views.length}`);
  }
  const result: RawTensor[] = [];
  views.forEach((view, i) => {
    const projected = projectTensor(view, tensors[i]!);
    if (projected) result.push(projected);
  });
  return encodeRawTensors(result);
}

export const toHex = (bytes: ArrayLike<number>): string =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

/** The SHA-256 of `bytes`, lowercase hex (WebCrypto: browsers and Node 20). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest("SHA-256", new Uint8Array(bytes));
  return toHex(new Uint8Array(digest));
}

/** What of a request a whole output is checked against. */
export interface WholeOutputClaim {
  wholeOutputSha256: ArrayLike<number>;
  outputViews: readonly OutputView[];
  /** The result on chain. */
  output: ArrayLike<number>;
}

function sameBytes(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The request's whole output, from the first base URL that serves it
 * (`GET {url}/outputs/{sha256 hex}`, empty URLs skipped): its SHA-256 must
 * be the request's `wholeOutputSha256` and its projection by the request's
 * views the result on chain, byte for byte; `url` is the address it came
 * from. Throws, naming what failed at each URL, when none does.
 */
/** The most the app reads of one whole output, and how long it waits for it. */
export const MAX_WHOLE_OUTPUT_BYTES = 64 * 1024 * 1024;
export const WHOLE_OUTPUT_TIMEOUT_MS = 20_000;

export async function fetchWholeOutput(
  request: WholeOutputClaim,
  urls: readonly string[],
  fetchImpl: typeof fetch = (input, init) => fetch(input, init),
): Promise<{ whole: Uint8Array; url: string }> {
  const hex = toHex(request.wholeOutputSha256);
  const failures: string[] = [];
  for (const base of urls) {
    if (!base) continue;
    const url = `${base.replace(/\/$/, "")}/outputs/${hex}`;
    let whole: Uint8Array;
    try {
      const response = await fetchImpl(url, { signal: AbortSignal.timeout(WHOLE_OUTPUT_TIMEOUT_MS) });
      if (!response.ok) {
        failures.push(`${url}: HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}`);
        continue;
      }
      const declared = Number(response.headers.get("content-length") ?? "0");
      if (declared > MAX_WHOLE_OUTPUT_BYTES) {
        failures.push(`${url}: more than ${MAX_WHOLE_OUTPUT_BYTES} bytes`);
        continue;
      }
      whole = new Uint8Array(await response.arrayBuffer());
      if (whole.length > MAX_WHOLE_OUTPUT_BYTES) {
        failures.push(`${url}: more than ${MAX_WHOLE_OUTPUT_BYTES} bytes`);
        continue;
      }
    } catch (err) {
      failures.push(`${url}: network error (${err instanceof Error ? err.message : String(err)})`);
      continue;
    }
    const got = await sha256Hex(whole);
    if (got !== hex) {
      failures.push(`${url}: wrong hash (its ${whole.length} bytes hash to ${got.slice(0, 16)}…)`);
      continue;
    }
    let result: Uint8Array;
    try {
      result = project(request.outputViews, whole);
    } catch (err) {
      failures.push(`${url}: not the result (its views cannot be taken: ${err instanceof Error ? err.message : String(err)})`);
      continue;
    }
    if (!sameBytes(result, request.output)) {
      failures.push(`${url}: not the result (its views differ from the result on chain)`);
      continue;
    }
    return { whole, url };
  }
  if (failures.length === 0) throw new Error(`no operator names a URL serving whole outputs, so the whole output ${hex.slice(0, 16)}… cannot be fetched`);
  throw new Error(`no server gave the whole output ${hex.slice(0, 16)}…: ${failures.join("; ")}`);
}
