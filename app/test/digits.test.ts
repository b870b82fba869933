import { expect, test } from "vitest";
import { digitFromAlpha, inkBox, takesDigitImage } from "../src/app/digits.js";

const SIZE = 64;
function canvas(ink: (x: number, y: number) => boolean): Uint8Array {
  const alpha = new Uint8Array(SIZE * SIZE);
  for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) if (ink(x, y)) alpha[y * SIZE + x] = 255;
  return alpha;
}
const grid = (values: number[]) => Array.from({ length: 8 }, (_, r) => values.slice(r * 8, r * 8 + 8));

test("a blank canvas is no digit", () => {
  expect(digitFromAlpha(canvas(() => false), SIZE, SIZE)).toBeNull();
  expect(inkBox(canvas(() => false), SIZE, SIZE)).toBeNull();
});

test("a filled square, wherever drawn, fills every block: 64 × 16", () => {
  const values = digitFromAlpha(canvas((x, y) => x >= 40 && x < 60 && y >= 5 && y < 25), SIZE, SIZE)!;
  expect(values).toEqual(new Array(64).fill(16));
});

test("a tall thin stroke stays thin and centred, the full height", () => {
  const values = digitFromAlpha(canvas((x, y) => x >= 10 && x < 13 && y >= 4 && y < 60), SIZE, SIZE)!;
  const rows = grid(values);
  for (const row of rows) {
    expect(row[3]! + row[4]!).toBeGreaterThan(0);
    expect(row.slice(0, 3).every((v) => v === 0) && row.slice(5).every((v) => v === 0)).toBe(true);
  }
});

test("faint pixels are not ink; values are counts 0..16", () => {
  const alpha = canvas((x, y) => x < 32 && y < 32);
  alpha[63 * SIZE + 63] = 20; // below the ink threshold
  const values = digitFromAlpha(alpha, SIZE, SIZE)!;
  expect(values).toEqual(new Array(64).fill(16));
  const cross = digitFromAlpha(canvas((x, y) => Math.abs(x - y) < 3 || Math.abs(63 - x - y) < 3), SIZE, SIZE)!;
  expect(cross.every((v) => Number.isInteger(v) && v >= 0 && v <= 16)).toBe(true);
  expect(grid(cross)[0]![0]).toBeGreaterThan(0);
  expect(grid(cross)[0]![3]).toBe(0);
});

test("the canvas is offered for 64-value float inputs only", () => {
  expect(takesDigitImage({ dtype: "float32", shape: [1, 64] })).toBe(true);
  expect(takesDigitImage({ dtype: "float32", shape: [1, 1, 8, 8] })).toBe(true);
  expect(takesDigitImage({ dtype: "float32", shape: [-1, 64] })).toBe(true);
  expect(takesDigitImage({ dtype: "uint8", shape: [1, 64] })).toBe(false);
  expect(takesDigitImage({ dtype: "float32", shape: [1, 16] })).toBe(false);
});
