// The canonical tensor encoding against the fixtures Python wrote (models/fixtures.json).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { decodeTensors, encodeTensors, EncodingError, inputFromJson, inputFromValues } from "../src/sibyl/encoding.js";

interface Fixture {
  name: string;
  input: { name: string; dtype: string; shape: number[] };
  cases: { input_encoding: string; output_encoding: string; output_values: number[] }[];
}
const fixtures: Fixture[] = JSON.parse(readFileSync(join(import.meta.dirname, "../../models/fixtures.json"), "utf8")).fixtures;
const hex = (text: string) => Uint8Array.from(Buffer.from(text, "hex"));

describe("every fixture", () => {
  for (const fixture of fixtures) {
    test(`${fixture.name}: decodes and re-encodes byte for byte`, () => {
      for (const c of fixture.cases) {
        for (const encoded of [hex(c.input_encoding), hex(c.output_encoding)]) {
          expect(encodeTensors(decodeTensors(encoded))).toEqual(encoded);
        }
        const output = decodeTensors(hex(c.output_encoding))[0]!;
        const expected = c.output_values;
        output.values.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 5));
      }
    });
    test(`${fixture.name}: its input as JSON is the fixture's input, named as the graph's (as the node makes it)`, () => {
      const input = hex(fixture.cases[0]!.input_encoding);
      const values = decodeTensors(input)[0]!.values;
      const spec = { name: fixture.input.name, dtype: fixture.input.dtype as "float32", shape: fixture.input.shape };
      expect(inputFromJson(JSON.stringify(values), [spec])).toEqual(input);
      expect(inputFromValues(values, spec)).toEqual(input);
    });
  }
});

describe("JSON input", () => {
  const uint8 = [{ name: "x", dtype: "uint8" as const, shape: [1, 4] }];
  const rows = [{ name: "x", dtype: "float32" as const, shape: [-1, 3] }];
  test("nested arrays read row-major", () => {
    const nested = inputFromJson("[[1, 2, 3, 4]]", uint8);
    expect(decodeTensors(nested)[0]).toEqual({ name: "x", dtype: "uint8", dims: [1, 4], values: [1, 2, 3, 4] });
  });
  test("a dynamic dimension takes the count", () => {
    const t = decodeTensors(inputFromJson("[1.5, 2, 3]", rows))[0]!;
    expect(t.dims).toEqual([1, 3]);
    const u = decodeTensors(inputFromJson("[1, 2, 3, 4, 5, 6]", rows))[0]!;
    expect(u.dims).toEqual([2, 3]);
  });
  test.each([
    ["{", /not valid JSON/],
    ['{"a": 1}', /the model has no input "a" \(it takes "x"\)/],
    ["7", /must be a JSON array/],
    ["[1, 2, 3]", /3 values do not fit the input shape \[1, 4\] \(4 values\)/],
    ["[[1, 2], [3]]", /not rectangular/],
    ['[1, 2, "3", 4]', /element 2 is "3", not a number/],
    ["[1, 2, 3, 256]", /element 3 \(256\) cannot be uint8: out of range 0..255/],
    ["[1, 2, 3, 1.5]", /element 3 \(1.5\) cannot be uint8: not an integer/],
  ])("%s is refused in words", (text, message) => {
    expect(() => inputFromJson(text, uint8)).toThrow(EncodingError);
    expect(() => inputFromJson(text, uint8)).toThrow(message);
  });
});

test("a truncated encoding says where it ends", () => {
  const good = inputFromJson("[1, 2, 3, 4]", [{ name: "x", dtype: "uint8", shape: [1, 4] }]);
  expect(() => decodeTensors(good.subarray(0, good.length - 1))).toThrow(/ends early at byte \d+ \(reading data/);
  expect(() => decodeTensors(Uint8Array.of(0, 0, 0, 0, 99, 1))).toThrow(/unknown dtype tag 99/);
});

test("float16 and int64 round-trip", () => {
  const tensors = [
    { name: "h", dtype: "float16" as const, dims: [3], values: [1.5, -2, 0.0999755859375] },
    { name: "l", dtype: "int64" as const, dims: [2], values: [-5, 2 ** 40] },
  ];
  expect(decodeTensors(encodeTensors(tensors))).toEqual(tensors);
});

interface Family {
  name: string;
  inputs: { name: string; dtype: string; shape: number[] }[];
  input_by_reference?: boolean;
  cases: { sample: string; input_encoding: string }[];
}
// The image family's samples are NumPy arrays of 600 KB, which go by
// reference from the CLI; the app takes JSON objects.
const families: Family[] = (
  JSON.parse(readFileSync(join(import.meta.dirname, "../../models/families/families.json"), "utf8")).families as Family[]
).filter((family) => !family.input_by_reference);

describe("models of several inputs (models/families)", () => {
  for (const family of families) {
    test(`${family.name}: its sample, one object keyed by input name, is Python's input`, () => {
      const specs = family.inputs.map((spec) => ({ ...spec, dtype: spec.dtype as "float32" }));
      for (const c of family.cases) {
        const sample = readFileSync(join(import.meta.dirname, "../../models", c.sample), "utf8");
        expect(inputFromJson(sample, specs)).toEqual(hex(c.input_encoding));
      }
    });
  }
  const specs = [
    { name: "input_ids", dtype: "int64" as const, shape: [1, -1] },
    { name: "sr", dtype: "int64" as const, shape: [] },
  ];
  test.each([
    ['{"input_ids": [[1, 2]]}', /no value for input "sr" \(the model takes "input_ids", "sr"\)/],
    ['{"input_ids": [[1, 2]], "sr": 8000, "mask": [1]}', /no input "mask"/],
    ['{"input_ids": [[1.5]], "sr": 8000}', /input "input_ids": element 0 \(1.5\) cannot be int64: not an integer/],
    ["[1, 2]", /this model takes 2 inputs \("input_ids", "sr"\): give one JSON object keyed by input name/],
  ])("%s is refused in words", (text, message) => {
    expect(() => inputFromJson(text, specs)).toThrow(message);
  });
  test("an input named like an Object property is still required", () => {
    const odd = [{ name: "constructor", dtype: "int64" as const, shape: [] }];
    expect(() => inputFromJson("{}", odd)).toThrow(/no value for input "constructor"/);
    expect(decodeTensors(inputFromJson('{"constructor": 3}', odd))[0]!.values).toEqual([3]);
  });
  test("a scalar is one number", () => {
    const [ids, sr] = decodeTensors(inputFromJson('{"sr": 16000, "input_ids": [[3, 4, 5]]}', specs));
    expect(ids).toEqual({ name: "input_ids", dtype: "int64", dims: [1, 3], values: [3, 4, 5] });
    expect(sr).toEqual({ name: "sr", dtype: "int64", dims: [], values: [16000] });
  });
});
