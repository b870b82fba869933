import { expect, test } from "vitest";
import { formatSol, formatUnits, shortKey } from "../src/app/amounts.js";

test("base units read as decimals, trailing zeros trimmed", () => {
  expect(formatUnits(10_000n, 6)).toBe("0.01");
  expect(formatUnits(1_000_000_000n, 6)).toBe("1000");
  expect(formatUnits(0, 6)).toBe("0");
  expect(formatUnits(-1_500_000n, 6)).toBe("-1.5");
  expect(formatUnits("18446744073709551615", 6)).toBe("18446744073709.551615");
  expect(formatSol(5000)).toBe("0.000005");
});

test("keys shorten to their ends", () => {
  expect(shortKey("B3N5RexUTsYsqhDSww2V1bQkYYcDsGiTBMihGSPCF3Xx")).toBe("B3N5…F3Xx");
  expect(shortKey("short")).toBe("short");
});
