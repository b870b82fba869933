// The canonical tensor encoding of inputs and outputs (consumer/src/encoding.rs, the SDK):
//
//   encoding := tensor*                 graph order, no count prefix
//   tensor   := name dtype rank dims data
//   name     := u32 LE byte length, UTF-8 bytes
//   dtype    := u8, the ONNX TensorProto.DataType number
//   rank     := u8
//   dims     := rank × u64 LE
//   data     := elements in row-major order, each little-endian (bool: one byte)
//
// An input is one tensor per model input, in graph order, each named as
// the graph names it, as the node's `input::from_json` and
// `from_json_object` make them.

/** The dtypes Sibyl supports, by the IDL's (camelCase) variant name. */
export const DTYPES = {
  float32: { tag: 1, size: 4 },
  uint8: { tag: 2, size: 1 },
  int8: { tag: 3, size: 1 },
  int16: { tag: 5, size: 2 },
  int32: { tag: 6, size: 4 },
  int64: { tag: 7, size: 8 },
  bool: { tag: 9, size: 1 },
  float16: { tag: 10, size: 2 },
  float64: { tag: 11, size: 8 },
} as const;
export type DTypeName = keyof typeof DTYPES;

/** A model's named input or output, as on chain: dtype and shape (-1: dynamic; [] a scalar). */
export interface TensorSpec {
  name: string;
  dtype: DTypeName;
  shape: readonly number[];
}

export interface Tensor {
  name: string;
  dtype: DTypeName;
  dims: number[];
  /** Elements as numbers (int64 values beyond 2^53 lose precision; none of Sibyl's outputs have them). */
  values: number[];
}

export class EncodingError extends Error {
  override name = "EncodingError";
}

const MAX_RANK = 8;

function dtypeByTag(tag: number): DTypeName {
  for (const [name, d] of Object.entries(DTYPES)) if (d.tag === tag) return name as DTypeName;
  throw new EncodingError(`unknown dtype tag ${tag}`);
}

/** A tensor with its data as the encoding's bytes (little-endian elements, row-major). */
export interface RawTensor {
  name: string;
  dtype: DTypeName;
  dims: number[];
  data: Uint8Array;
}

/** Decodes every tensor of an encoding, keeping each one's data bytes as they are. */
export function decodeRawTensors(bytes: Uint8Array): RawTensor[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tensors: RawTensor[] = [];
  let at = 0;
  const need = (n: number, what: string) => {
    if (at + n > bytes.length) throw new EncodingError(`the encoding ends early at byte ${at} (reading ${what})`);
  };
  while (at < bytes.length) {
    need(4, "name length");
    const nameLen = view.getUint32(at, true);
    at += 4;
    need(nameLen, "name");
    const name = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(at, at + nameLen));
    at += nameLen;
    need(2, "dtype and rank");
    const dtype = dtypeByTag(bytes[at]!);
    const rank = bytes[at + 1]!;
    at += 2;
    if (rank > MAX_RANK) throw new EncodingError(`tensor rank ${rank} exceeds the maximum of ${MAX_RANK}`);
    need(8 * rank, "dims");
    const dims: number[] = [];
    for (let i = 0; i < rank; i++) {
      dims.push(Number(view.getBigUint64(at, true)));
      at += 8;
    }
    const count = dims.reduce((a, b) => a * b, 1);
    const size = DTYPES[dtype].size;
    need(count * size, `data of ${name || "the tensor"}`);
    tensors.push({ name, dtype, dims, data: bytes.slice(at, at + count * size) });
    at += count * size;
  }
  return tensors;
}

/** A raw tensor's elements as numbers. */
export function rawValues(tensor: RawTensor): number[] {
  const view = new DataView(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
  const size = DTYPES[tensor.dtype].size;
  const values: number[] = [];
  for (let at = 0; at + size <= tensor.data.length; at += size) values.push(readElement(view, at, tensor.dtype));
  return values;
}

/** Decodes every tensor of an encoding. */
export function decodeTensors(bytes: Uint8Array): Tensor[] {
  return decodeRawTensors(bytes).map((t) => ({ name: t.name, dtype: t.dtype, dims: t.dims, values: rawValues(t) }));
}

/** Encodes raw tensors (the inverse of `decodeRawTensors`). */
export function encodeRawTensors(tensors: readonly RawTensor[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const t of tensors) {
    const name = new TextEncoder().encode(t.name);
    const count = t.dims.reduce((a, b) => a * b, 1);
    const size = DTYPES[t.dtype].size;
    if (count * size !== t.data.length) {
      throw new EncodingError(`${t.data.length} data bytes do not fit the dims [${t.dims.join(", ")}] of ${t.dtype}`);
    }
    const head = new Uint8Array(4 + name.length + 2 + 8 * t.dims.length);
    const view = new DataView(head.buffer);
    view.setUint32(0, name.length, true);
    head.set(name, 4);
    let at = 4 + name.length;
    head[at] = DTYPES[t.dtype].tag;
    head[at + 1] = t.dims.length;
    at += 2;
    for (const d of t.dims) {
      view.setBigUint64(at, BigInt(d), true);
      at += 8;
    }
    parts.push(head, t.data);
  }
  return concat(parts);
}

/** Encodes tensors (the inverse of `decodeTensors`). */
export function encodeTensors(tensors: readonly Tensor[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const t of tensors) {
    const name = new TextEncoder().encode(t.name);
    const count = t.dims.reduce((a, b) => a * b, 1);
    if (count !== t.values.length) {
      throw new EncodingError(`${t.values.length} values do not fit the dims [${t.dims.join(", ")}]`);
    }
    const size = DTYPES[t.dtype].size;
    const out = new Uint8Array(4 + name.length + 2 + 8 * t.dims.length + count * size);
    const view = new DataView(out.buffer);
    let at = 0;
    view.setUint32(at, name.length, true);
    out.set(name, 4);
    at = 4 + name.length;
    out[at] = DTYPES[t.dtype].tag;
    out[at + 1] = t.dims.length;
    at += 2;
    for (const d of t.dims) {
      view.setBigUint64(at, BigInt(d), true);
      at += 8;
    }
    t.values.forEach((v, i) => writeElement(view, at + i * size, t.dtype, v, i));
    parts.push(out);
  }
  const total = parts.reduce((n, p) => n + p.length, 0);
  const joined = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    joined.set(p, at);
    at += p.length;
  }
  return joined;
}

function readElement(view: DataView, at: number, dtype: DTypeName): number {
  switch (dtype) {
    case "float32":
      return view.getFloat32(at, true);
    case "float64":
      return view.getFloat64(at, true);
    case "float16":
      return halfToNumber(view.getUint16(at, true));
    case "uint8":
      return view.getUint8(at);
    case "int8":
      return view.getInt8(at);
    case "int16":
      return view.getInt16(at, true);
    case "int32":
      return view.getInt32(at, true);
    case "int64":
      return Number(view.getBigInt64(at, true));
    case "bool":
      return view.getUint8(at) === 0 ? 0 : 1;
  }
}

const INTEGER_RANGES: Partial<Record<DTypeName, [number, number]>> = {
  uint8: [0, 255],
  int8: [-128, 127],
  int16: [-32768, 32767],
  int32: [-2147483648, 2147483647],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  bool: [0, 1],
};

function writeElement(view: DataView, at: number, dtype: DTypeName, value: number, index: number): void {
  if (!Number.isFinite(value) && !dtype.startsWith("float")) {
    throw new EncodingError(`element ${index} (${value}) cannot be ${dtype}: not a finite number`);
  }
  const range = INTEGER_RANGES[dtype];
  if (range) {
    if (!Number.isInteger(value)) throw new EncodingError(`element ${index} (${value}) cannot be ${dtype}: not an integer`);
    if (value < range[0] || value > range[1]) {
      throw new EncodingError(`element ${index} (${value}) cannot be ${dtype}: out of range ${range[0]}..${range[1]}`);
    }
  }
  switch (dtype) {
    case "float32":
      return view.setFloat32(at, value, true);
    case "float64":
      return view.setFloat64(at, value, true);
    case "float16":
      return view.setUint16(at, numberToHalf(value), true);
    case "uint8":
    case "bool":
      return view.setUint8(at, value);
    case "int8":
      return view.setInt8(at, value);
    case "int16":
      return view.setInt16(at, value, true);
    case "int32":
      return view.setInt32(at, value, true);
    case "int64":
      return view.setBigInt64(at, BigInt(value), true);
  }
}

function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

function numberToHalf(value: number): number {
  const f32 = new Float32Array([value]);
  const bits = new Uint32Array(f32.buffer)[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = ((bits >>> 23) & 0xff) - 127 + 15;
  const mant = bits & 0x7fffff;
  if (((bits >>> 23) & 0xff) === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  if (exp >= 0x1f) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    const m = (mant | 0x800000) >> (1 - exp);
    return sign | ((m + 0x1000) >> 13);
  }
  return sign | (exp << 10) | ((mant + 0x1000) >> 13);
}

/** Flattens a (possibly nested, rectangular) JSON array; returns its values and nested shape. */
function flatten(value: unknown): { values: number[]; shape: number[] } {
  const shape: number[] = [];
  for (let v = value; Array.isArray(v); v = v[0]) shape.push(v.length);
  const values: number[] = [];
  const walk = (v: unknown, depth: number, path: string) => {
    if (depth < shape.length) {
      if (!Array.isArray(v) || v.length !== shape[depth]) {
        throw new EncodingError(`the JSON arrays are not rectangular at ${path || "the top"}`);
      }
      v.forEach((item, i) => walk(item, depth + 1, `${path}[${i}]`));
      return;
    }
    if (typeof v === "boolean") values.push(v ? 1 : 0);
    else if (typeof v === "number") values.push(v);
    else throw new EncodingError(`element ${values.length} is ${JSON.stringify(v)}, not a number`);
  };
  walk(value, 0, "");
  return { values, shape };
}

/**
 * JSON as the model's inputs. One object keyed by input name gives every
 * input (its encoding in graph order); a model of one input also takes its
 * array alone (a number for a scalar). Each input is one tensor named as
 * the spec, of its dtype and dims: with no dynamic dimension the count must
 * equal the shape's product; with dynamic ones, nested arrays of the spec's
 * rank give their sizes, else the last dynamic dimension takes the rest
 * (the rules of the node's `input::from_json` and `from_json_object`).
 */
export function inputFromJson(text: string, specs: readonly TensorSpec[]): Uint8Array {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new EncodingError(`the input is not valid JSON (${(err as Error).message})`);
  }
  const names = specs.map((spec) => `"${spec.name}"`).join(", ");
  if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
    const fields = parsed as Record<string, unknown>;
    const unknown = Object.keys(fields).find((key) => !specs.some((spec) => spec.name === key));
    if (unknown !== undefined) throw new EncodingError(`the model has no input "${unknown}" (it takes ${names})`);
    return concat(
      specs.map((spec) => {
        if (!Object.hasOwn(fields, spec.name)) throw new EncodingError(`no value for input "${spec.name}" (the model takes ${names})`);
        return oneInput(fields[spec.name], spec, specs.length > 1);
      }),
    );
  }
  const [only] = specs;
  if (specs.length !== 1 || !only) {
    throw new EncodingError(`this model takes ${specs.length} inputs (${names}): give one JSON object keyed by input name`);
  }
  return oneInput(parsed, only, false);
}

function oneInput(value: unknown, spec: TensorSpec, named: boolean): Uint8Array {
  const where = named ? `input "${spec.name}": ` : "";
  const scalar = spec.shape.length === 0 && (typeof value === "number" || typeof value === "boolean");
  if (!Array.isArray(value) && !scalar) {
    throw new EncodingError(`${where}the input must be a JSON array of numbers${spec.shape.length === 0 ? " (or one number)" : ""}`);
  }
  try {
    const { values, shape } = flatten(value);
    const dims = resolveDims(spec, values.length, shape);
    return encodeTensors([{ name: spec.name, dtype: spec.dtype, dims, values }]);
  } catch (err) {
    if (err instanceof EncodingError && named) throw new EncodingError(where + err.message);
    throw err;
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** An input from values already in row-major order (the digit canvas). */
export function inputFromValues(values: readonly number[], spec: TensorSpec): Uint8Array {
  const dims = resolveDims(spec, values.length, [values.length]);
  return encodeTensors([{ name: spec.name, dtype: spec.dtype, dims, values: [...values] }]);
}

function resolveDims(spec: TensorSpec, count: number, nested: number[]): number[] {
  const shape = spec.shape;
  const fixed = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const dynamic = shape.filter((d) => d === -1).length;
  if (dynamic === 0) {
    if (count !== fixed) {
      throw new EncodingError(`${count} values do not fit the input shape [${shape.join(", ")}] (${fixed} values)`);
    }
    return [...shape];
  }
  if (nested.length === shape.length && shape.every((d, i) => d === -1 || d === nested[i])) return [...nested];
  if (count % fixed !== 0 || count === 0) {
    throw new EncodingError(`${count} values do not fit the input shape [${shape.join(", ")}]`);
  }
  const lastDynamic = shape.lastIndexOf(-1);
  return shape.map((d, i) => (d !== -1 ? d : i === lastDynamic ? count / fixed : 1));
}
