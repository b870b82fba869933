// Output views: the projection against the results Python wrote for the
// model families (models/families/families.json), its rules one by one,
// and fetching a whole output from operators' nodes.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { decodeTensors, encodeTensors, EncodingError, type Tensor } from "../src/sibyl/encoding.js";
import {
  allWhole,
  fetchWholeOutput,
  fixedPoint,
  parseView,
  project,
  sha256Hex,
  toHex,
  type OutputView,
} from "../src/sibyl/outputs.js";

interface Family {
  name: string;
  outputs: { name: string; dtype: string; shape: number[] }[];
  views?: Record<string, string>;
  cases: { output_encoding: string; result_encoding?: string; whole_output_sha256?: string }[];
}
const families: Family[] = JSON.parse(
  readFileSync(join(import.meta.dirname, "../../models/families/families.json"), "utf8"),
).families;
const hex = (text: string) => Uint8Array.from(Buffer.from(text, "hex"));
/** A family's views, one per output in graph order (whole where it names none); none at all without `views`. */
const viewsOf = (family: Family): OutputView[] =>
  family.views ? family.outputs.map((spec) => parseView(family.views![spec.name] ?? "whole")) : [];

describe("the model families' results (Python's, models/families)", () => {
  test("classifier1000's view is a top-5 of its logits in 1/65536ths", () => {
    const family = families.find((f) => f.name === "classifier1000")!;
    expect(viewsOf(family)).toEqual([{ topK: { k: 5, scale: 65536 } }]);
    expect(allWhole(viewsOf(family))).toBe(false);
  });

  for (const family of families) {
    test(`${family.name}: each whole output projects to its result, and hashes to its whole_output_sha256`, async () => {
      const views = viewsOf(family);
      for (const c of family.cases) {
        const whole = hex(c.output_encoding);
        const result = hex(c.result_encoding ?? c.output_encoding);
        expect(toHex(project(views, whole))).toBe(toHex(result));
        if (c.whole_output_sha256 !== undefined) expect(await sha256Hex(whole)).toBe(c.whole_output_sha256);
        if (allWhole(views)) expect(toHex(result)).toBe(toHex(whole));
      }
    });
  }

  test("classifier1000's result holds the 5 largest logits, best first, as int32 [1, 5, 2]", () => {
    const family = families.find((f) => f.name === "classifier1000")!;
    for (const c of family.cases) {
      const [logits] = decodeTensors(hex(c.output_encoding));
      const [top] = decodeTensors(project(viewsOf(family), hex(c.output_encoding)));
      expect(top).toMatchObject({ name: "logits", dtype: "int32", dims: [1, 5, 2] });
      const best = [...logits!.values.keys()].sort((a, b) => logits!.values[b]! - logits!.values[a]! || a - b).slice(0, 5);
      expect(top!.values.filter((_, i) => i % 2 === 0)).toEqual(best);
    }
  });
});

const float32 = (name: string, dims: number[], values: number[]): Tensor => ({ name, dtype: "float32", dims, values });
const encode = (...tensors: Tensor[]) => encodeTensors(tensors);
const topK = (k: number, scale: number): OutputView => ({ topK: { k, scale } });

describe("projection", () => {
  const label: Tensor = { name: "label", dtype: "int64", dims: [1], values: [7] };
  const scores = float32("logits", [1, 3], [0.1, 0.7, 0.2]);

  test("no views, or every view whole: the result is the whole output", () => {
    const whole = encode(label, scores);
    expect(project([], whole)).toEqual(whole);
    expect(project([{ whole: {} }, { whole: {} }], whole)).toEqual(whole);
    expect(allWhole([])).toBe(true);
    expect(allWhole([{ whole: {} }, { omitted: {} }])).toBe(false);
  });

  test("an omitted output is left out; the rest keep graph order", () => {
    const whole = encode(label, scores);
    const result = decodeTensors(project([{ omitted: {} }, topK(1, 100)], whole));
    expect(result).toEqual([{ name: "logits", dtype: "int32", dims: [1, 1, 2], values: [1, 70] }]);
    expect(project([{ whole: {} }, { omitted: {} }], whole)).toEqual(encode(label));
  });

  test("a slice keeps a flat range as dims [len], same name and dtype, its bytes as they were", () => {
    const y = float32("y", [2, 2], [1, 2, 3, 4]);
    expect(decodeTensors(project([{ slice: { start: 1, len: 2 } }], encode(y)))).toEqual([float32("y", [2], [2, 3])]);
    // A NaN's payload survives (the bytes are copied, never read as numbers).
    const odd = encode(float32("y", [2], [0, 0]));
    odd.set([0x01, 0x00, 0xc0, 0xff], odd.length - 4);
    expect(project([{ slice: { start: 1, len: 1 } }], odd).subarray(-4)).toEqual(Uint8Array.of(0x01, 0x00, 0xc0, 0xff));
    expect(() => project([{ slice: { start: 3, len: 2 } }], encode(y))).toThrow(/output `y` does not admit its view/);
  });

  test("a top-k ranks each row's classes, best first, ties to the lower class (the Rust unit test's case)", () => {
    const logits = float32("logits", [2, 4], [0.5, 2.25, -1.0, 2.25, 0.0, -0.5, 3.0, 1.0]);
    const [top] = decodeTensors(project([topK(2, 4)], encode(logits)));
    expect(top).toEqual({ name: "logits", dtype: "int32", dims: [2, 2, 2], values: [1, 9, 3, 9, 2, 12, 3, 4] });
  });

  test("ties: equal values rank the lower index first; +0 ranks above -0; NaN above everything", () => {
    const rank = (values: number[], k = values.length) =>
      decodeTensors(project([topK(k, 1)], encode(float32("s", [values.length], values))))[0]!.values.filter((_, i) => i % 2 === 0);
    expect(rank([1, 3, 3, 3, 0])).toEqual([1, 2, 3, 0, 4]);
    expect(rank([-0, 0, -0])).toEqual([1, 0, 2]);
    expect(rank([1, NaN, Infinity, -Infinity], 2)).toEqual([1, 2]);
  });

  test("scores round half away from zero, in float64", () => {
    expect([2.5, -2.5, 0.5, -0.5, 1.4999, -1.5, 0.49999999999999994].map((v) => fixedPoint(v, 1))).toEqual([3, -3, 1, -1, 1, -2, 0]);
    expect(fixedPoint(0.1, 10)).toBe(1);
    expect(fixedPoint(-0.1, 1)).toBe(0);
    expect(Object.is(fixedPoint(-0.1, 1), -0)).toBe(false);
    // float32 2.5 / -2.5 through a whole projection:
    const [top] = decodeTensors(project([topK(2, 1)], encode(float32("s", [2], [2.5, -2.5]))));
    expect(top!.values).toEqual([0, 3, 1, -3]);
  });

  test("scores saturate to the int32 range; NaN scores 0", () => {
    expect(fixedPoint(1e12, 1)).toBe(2147483647);
    expect(fixedPoint(-1e12, 1)).toBe(-2147483648);
    expect(fixedPoint(Infinity, 1)).toBe(2147483647);
    expect(fixedPoint(-Infinity, 1)).toBe(-2147483648);
    expect(fixedPoint(NaN, 1)).toBe(0);
    expect(fixedPoint(40000, 65536)).toBe(2147483647);
    const [top] = decodeTensors(project([topK(3, 65536)], encode(float32("s", [3], [-40000, NaN, 40000]))));
    expect(top!.values).toEqual([1, 0, 2, 2147483647, 0, -2147483648]);
  });

  test("a whole output that does not admit the views is refused as an EncodingError", () => {
    const whole = encode(label, scores);
    expect(() => project([{ omitted: {} }], whole)).toThrow(/the whole output has 2 tensors, the model's views 1/);
    expect(() => project([topK(1, 1), { whole: {} }], whole)).toThrow(/output `label` does not admit its view/);
    expect(() => project([{ whole: {} }, topK(4, 1)], whole)).toThrow(EncodingError);
    expect(() => project([topK(1, 1)], Uint8Array.of(1, 2))).toThrow(EncodingError);
  });

  test("views in the CLI's words", () => {
    expect(["whole", "omit", "slice:0:3", "topk:5:1000"].map(parseView)).toEqual([
      { whole: {} },
      { omitted: {} },
      { slice: { start: 0, len: 3 } },
      { topK: { k: 5, scale: 1000 } },
    ]);
    expect(() => parseView("topk:5")).toThrow(/not a view/);
  });
});

describe("sha256Hex", () => {
  test("is node's SHA-256, lowercase hex", async () => {
    const bytes = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    expect(await sha256Hex(bytes)).toBe(createHash("sha256").update(bytes).digest("hex"));
    expect(await sha256Hex(new Uint8Array())).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });
});

describe("fetching a whole output", () => {
  const family = families.find((f) => f.name === "classifier1000")!;
  const c = family.cases[0]!;
  const whole = hex(c.output_encoding);
  const request = {
    wholeOutputSha256: Array.from(hex(c.whole_output_sha256!)),
    outputViews: viewsOf(family),
    output: Buffer.from(hex(c.result_encoding!)),
  };
  /** A fetch answering each URL prefix with its body, or status, or a thrown error. */
  const serving = (routes: Record<string, Uint8Array | number | Error>) => {
    const asked: string[] = [];
    const impl = (async (input: string | URL | Request) => {
      const url = String(input);
      asked.push(url);
      const key = Object.keys(routes).find((prefix) => url.startsWith(prefix));
      const route = key === undefined ? 404 : routes[key]!;
      if (route instanceof Error) throw route;
      if (typeof route === "number") return new Response("no", { status: route });
      return new Response(new Uint8Array(route), { status: 200, headers: { "content-type": "application/octet-stream" } });
    }) as typeof fetch;
    return { impl, asked };
  };

  test("a server giving wrong bytes is skipped; the next URL's right bytes are taken", async () => {
    const { impl, asked } = serving({ "http://a": Uint8Array.of(1, 2, 3), "http://b": whole });
    const got = await fetchWholeOutput(request, ["", "http://a/", "http://b"], impl);
    expect(got.whole).toEqual(whole);
    expect(got.url).toBe(`http://b/outputs/${c.whole_output_sha256}`);
    expect(asked).toEqual([`http://a/outputs/${c.whole_output_sha256}`, `http://b/outputs/${c.whole_output_sha256}`]);
  });

  test("the first that serves it wins; later URLs are not asked", async () => {
    const { impl, asked } = serving({ "http://a": whole, "http://b": whole });
    expect((await fetchWholeOutput(request, ["http://a", "http://b"], impl)).url).toMatch(/^http:\/\/a\/outputs\//);
    expect(asked).toHaveLength(1);
  });

  test("bytes of the right hash whose views are not the result on chain are refused", async () => {
    // The request claims this whole output, but its result on chain is another's.
    const other = hex(family.cases[1]!.result_encoding!);
    const { impl } = serving({ "http://a": whole });
    await expect(fetchWholeOutput({ ...request, output: other }, ["http://a"], impl)).rejects.toThrow(
      /http:\/\/a\/outputs\/[0-9a-f]{64}: not the result/,
    );
    const { impl: misfit } = serving({ "http://a": whole });
    await expect(fetchWholeOutput({ ...request, outputViews: [{ omitted: {} }, topK(1, 1)] }, ["http://a"], misfit)).rejects.toThrow(
      /not the result \(its views cannot be taken: the whole output has 1 tensors, the model's views 2\)/,
    );
  });

  test("when every server fails, the error names what failed at each", async () => {
    const { impl } = serving({ "http://a": Uint8Array.of(9), "http://b": 404, "http://c": new TypeError("fetch failed") });
    const attempt = fetchWholeOutput(request, ["http://a", "http://b", "http://c"], impl);
    await expect(attempt).rejects.toThrow(/http:\/\/a\/outputs\/[0-9a-f]{64}: wrong hash/);
    await expect(attempt).rejects.toThrow(/http:\/\/b\/outputs\/[0-9a-f]{64}: HTTP 404/);
    await expect(attempt).rejects.toThrow(/http:\/\/c\/outputs\/[0-9a-f]{64}: network error \(fetch failed\)/);
  });

  test("no URL at all says so", async () => {
    await expect(fetchWholeOutput(request, ["", ""], serving({}).impl)).rejects.toThrow(/no operator names a URL/);
  });
});
