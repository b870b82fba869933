import { expect, test } from "vitest";
import { oneHotOutput, outputWithValues } from "../src/app/challenge.js";
import { decodeTensors, encodeTensors } from "../src/sibyl/encoding.js";

const committed = encodeTensors([
  { name: "probabilities", dtype: "float32", dims: [1, 4], values: [0.1, 0.7, 0.15, 0.05] },
]);

test("a class becomes one-hot scores in the committed output's layout", () => {
  const [tensor] = decodeTensors(oneHotOutput(committed, 2));
  expect(tensor).toEqual({ name: "probabilities", dtype: "float32", dims: [1, 4], values: [0, 0, 1, 0] });
});

test("the committed class, or one that does not exist, is refused", () => {
  expect(() => oneHotOutput(committed, 1)).toThrow("class 1 is what the operator committed");
  expect(() => oneHotOutput(committed, 4)).toThrow("class 4 is not one of 0..3");
});

test("values must match the output's size", () => {
  expect(() => outputWithValues(committed, [1, 2])).toThrow("the output has 4 values; you gave 2");
  const two = new Uint8Array([...committed, ...committed]);
  expect(() => outputWithValues(two, [1, 2, 3, 4])).toThrow("only single-tensor outputs");
});
