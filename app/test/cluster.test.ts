import { expect, test } from "vitest";
import { clusterFromQuery, DEVNET, LOCALNET, queryFor, wsFor } from "../src/app/cluster.js";

test("localnet unless the address says otherwise", () => {
  expect(clusterFromQuery("")).toEqual(LOCALNET);
  expect(clusterFromQuery("?cluster=devnet")).toEqual(DEVNET);
  expect(clusterFromQuery("?cluster=mainnet")).toEqual(LOCALNET);
});

test("a custom endpoint, with PubSub on the next port unless named", () => {
  const custom = clusterFromQuery("?rpc=http%3A%2F%2F127.0.0.1%3A40000");
  expect(custom).toMatchObject({ id: "custom", rpc: "http://127.0.0.1:40000", ws: "ws://127.0.0.1:40001" });
  const named = clusterFromQuery(`?rpc=${encodeURIComponent("http://h:1")}&ws=${encodeURIComponent("ws://h:9")}`);
  expect(named.ws).toBe("ws://h:9");
  expect(clusterFromQuery(queryFor(named))).toEqual(named);
  expect(clusterFromQuery(queryFor(DEVNET))).toEqual(DEVNET);
  expect(wsFor("https://api.devnet.solana.com")).toBe("wss://api.devnet.solana.com");
});
