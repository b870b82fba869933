import { WalletSignTransactionError } from "@solana/wallet-adapter-base";
import { Keypair, SystemProgram, Transaction } from "@solana/web3.js";
import { expect, test } from "vitest";
import { LocalKeypairWalletAdapter, testWallets } from "../src/wallet/localKeypair.js";

/** eventemitter3's typings do not resolve under `nodenext` (see localKeypair.ts); the methods are there. */
type Events = { on(event: string, listener: (value?: unknown) => void): void; once(event: string, listener: (value?: unknown) => void): void };

const transfer = (from: Keypair) =>
  new Transaction({ feePayer: from.publicKey, blockhash: Keypair.generate().publicKey.toBase58(), lastValidBlockHeight: 1 }).add(
    SystemProgram.transfer({ fromPubkey: from.publicKey, toPubkey: Keypair.generate().publicKey, lamports: 1 }),
  );

test("signs as the keypair it was given, once connected", async () => {
  const keypair = Keypair.generate();
  const adapter = new LocalKeypairWalletAdapter({ secretKey: Array.from(keypair.secretKey) });
  expect(adapter.publicKey).toBeNull();
  await expect(adapter.signTransaction(transfer(keypair))).rejects.toThrow();
  const connected = new Promise((resolve) => (adapter as unknown as Events).once("connect", resolve));
  await adapter.connect();
  expect(await connected).toEqual(keypair.publicKey);
  const [signed] = await adapter.signAllTransactions([transfer(keypair)]);
  expect(signed!.verifySignatures()).toBe(true);
});

test("rejects the next signature when told to, as a user pressing Reject", async () => {
  const keypair = Keypair.generate();
  const setup = { secretKey: Array.from(keypair.secretKey), rejectNext: true };
  const adapter = new LocalKeypairWalletAdapter(setup);
  (adapter as unknown as Events).on("error", () => {});
  await adapter.connect();
  await expect(adapter.signTransaction(transfer(keypair))).rejects.toBeInstanceOf(WalletSignTransactionError);
  expect(setup.rejectNext).toBe(false);
  await expect(adapter.signTransaction(transfer(keypair))).resolves.toBeDefined();
});

test("exists only on a page given a keypair", () => {
  expect(testWallets()).toEqual([]);
});
