import { describe, expect, test } from "vitest";
import { EVENT_IX_TAG } from "../src/app/history.js";

describe("dispute history", () => {
  test("the event tag is Anchor's EVENT_IX_TAG in little-endian order", () => {
    const tag = new DataView(EVENT_IX_TAG.buffer).getBigUint64(0, true);
    expect(tag).toBe(0x1d9acb512ea545e4n);
  });
});
