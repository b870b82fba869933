// `npm test`: the generated client against values the Rust side produced and
// against Anchor's own handling of idl/sibyl.json.
import { test } from "vitest";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Program, Wallet, utils } from "@coral-xyz/anchor";
import { Connection, Keypair, PublicKey, SystemProgram } from "@solana/web3.js";
import {
  EVENT_IX_TAG_LE,
  IDL,
  PDA_SEED_COUNTS,
  PROGRAM_ID,
  SIBYL_ERRORS,
  TOKEN_PROGRAM_ID,
  buildRequestInference,
  configPda,
  decodeEventFromInnerIx,
  escrowPda,
  eventAuthorityPda,
  makeProgram,
  modelPda,
  requestPda,
  sibylError,
} from "../src/index.js";

// This file is app/test/client.test.ts.
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const GENERATOR = join(ROOT, "tools/ts-client/generate.mjs");

interface RawAccount {
  name: string;
  accounts?: RawAccount[];
  pda?: { seeds: unknown[] };
}
interface RawIdl {
  address: string;
  instructions: { name: string; discriminator: number[]; accounts: RawAccount[] }[];
  errors: { code: number; name: string; msg: string }[];
  events: { name: string; discriminator: number[] }[];
}
const rawIdl = JSON.parse(readFileSync(join(ROOT, "idl/sibyl.json"), "utf8")) as RawIdl;

const program = makeProgram(new Connection("http://127.0.0.1:8899"), new Wallet(Keypair.generate()));

// The digits model of models/fixtures.json, as registered in docs/node.md.
const DIGITS_SHA256 = Buffer.from("112e68c92fd894eece660535d974e98421c42e91318e7475ef04410e8aa3dbe8", "hex");

test("PDAs match the addresses the Rust client printed", () => {
  assert.equal(PROGRAM_ID.toBase58(), "B3N5RexUTsYsqhDSww2V1bQkYYcDsGiTBMihGSPCF3Xx");
  // `sibyl_client::pda::config()`, as printed by the CLI.
  assert.equal(configPda().toBase58(), "5aPMrR7dYoD2PGNTj3FbWU1e8L58cA3jyGRyT3DhUZEq");
  // `sibyl_client::pda::model(sha256(digits.onnx))`, as printed in docs/node.md.
  assert.equal(modelPda(DIGITS_SHA256).toBase58(), "3KYzKnqmGAQeY6CAKg6BZ1NMKwacJX7yxdXcv4bzEALu");
});

test("the request PDA encodes the nonce as u64 little-endian", () => {
  const requester = new PublicKey("7Du5jDHhfEV2E2FpQwoYpxc6kC9khskHSMjfnZhF8V3m");
  for (const nonce of [0n, 258n, 2n ** 64n - 1n]) {
    const le = Buffer.alloc(8);
    le.writeBigUInt64LE(nonce);
    const expected = PublicKey.findProgramAddressSync([Buffer.from("request"), requester.toBuffer(), le], PROGRAM_ID)[0];
    assert.equal(requestPda(requester, nonce).toBase58(), expected.toBase58());
  }
  assert.throws(() => requestPda(requester, 2n ** 64n), RangeError);
  assert.throws(() => modelPda(new Uint8Array(31)), RangeError);
});

test("every PDA in the IDL has the seed count its helper uses", () => {
  const seen = new Set<string>();
  const visit = (accounts: RawAccount[], ix: string): void => {
    for (const a of accounts) {
      if (a.accounts) visit(a.accounts, ix);
      if (!a.pda || !(a.name in PDA_SEED_COUNTS)) continue;
      seen.add(a.name);
      assert.equal(a.pda.seeds.length, PDA_SEED_COUNTS[a.name as keyof typeof PDA_SEED_COUNTS], `${ix}.${a.name}`);
    }
  };
  for (const ix of rawIdl.instructions) visit(ix.accounts, ix.name);
  assert.deepEqual([...seen].sort(), Object.keys(PDA_SEED_COUNTS).sort());
});

test("the generated IDL is what Anchor makes of idl/sibyl.json", () => {
  // Program camelCases the IDL it is given; from the generated one and from
  // the committed JSON it must arrive at the same runtime IDL.
  const fromJson = new Program(rawIdl as never, program.provider);
  assert.deepEqual(program.idl, fromJson.idl);
  assert.equal(program.programId.toBase58(), rawIdl.address);
});

test("request_inference: discriminator, accounts and Borsh args", async () => {
  const requester = Keypair.generate().publicKey;
  const requesterToken = Keypair.generate().publicKey;
  const mint = new PublicKey("7Du5jDHhfEV2E2FpQwoYpxc6kC9khskHSMjfnZhF8V3m");
  const input = Uint8Array.of(1, 2, 3, 4, 5);
  const ix = await buildRequestInference(program, {
    requester,
    requesterToken,
    model: DIGITS_SHA256,
    nonce: 7n,
    fee: 10_000,
    input,
    mint,
  });

  const disc = rawIdl.instructions.find((i) => i.name === "request_inference")?.discriminator;
  assert.ok(disc);
  assert.deepEqual([...ix.data.subarray(0, 8)], disc);

  // nonce, fee, input_len, input (u32 length + bytes), input_reference:
  // None (0), callback: None (0), max_challenge_window_slots: None (0).
  const body = Buffer.alloc(8 + 8 + 4 + 4 + input.length + 1 + 1 + 1);
  body.writeBigUInt64LE(7n, 0);
  body.writeBigUInt64LE(10_000n, 8);
  body.writeUInt32LE(input.length, 16);
  body.writeUInt32LE(input.length, 20);
  Buffer.from(input).copy(body, 24);
  assert.deepEqual(ix.data.subarray(8), body);

  assert.ok(ix.programId.equals(PROGRAM_ID));
  const request = requestPda(requester, 7n);
  const expected = [
    [requester, true, true],
    [configPda(), false, false],
    [modelPda(DIGITS_SHA256), false, true],
    [request, false, true],
    [escrowPda(request), false, true],
    [requesterToken, false, true],
    [mint, false, false],
    [TOKEN_PROGRAM_ID, false, false],
    [SystemProgram.programId, false, false],
    [eventAuthorityPda(), false, false],
    [PROGRAM_ID, false, false],
  ] as const;
  assert.deepEqual(
    ix.keys.map((k) => [k.pubkey.toBase58(), k.isSigner, k.isWritable]),
    expected.map(([key, signer, writable]) => [key.toBase58(), signer, writable]),
  );
  assert.ok(TOKEN_PROGRAM_ID.equals(utils.token.TOKEN_PROGRAM_ID));
});

test("request_inference by reference: the hash and URI, no input bytes", async () => {
  const sha256 = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
  const uri = "https://files.example/image.bin";
  const ix = await buildRequestInference(program, {
    requester: Keypair.generate().publicKey,
    requesterToken: Keypair.generate().publicKey,
    model: DIGITS_SHA256,
    nonce: 7n,
    fee: 10_000,
    input: new Uint8Array(),
    inputLen: 602_155,
    inputReference: { sha256, uri },
    mint: new PublicKey("7Du5jDHhfEV2E2FpQwoYpxc6kC9khskHSMjfnZhF8V3m"),
  });
  // nonce, fee, input_len, input (empty), input_reference: Some (1) with
  // the hash and the URI (u32 length + bytes), callback: None,
  // max_challenge_window_slots: None.
  const body = Buffer.alloc(8 + 8 + 4 + 4 + 1 + 32 + 4 + uri.length + 1 + 1);
  body.writeBigUInt64LE(7n, 0);
  body.writeBigUInt64LE(10_000n, 8);
  body.writeUInt32LE(602_155, 16);
  body.writeUInt32LE(0, 20);
  body.writeUInt8(1, 24);
  Buffer.from(sha256).copy(body, 25);
  body.writeUInt32LE(uri.length, 57);
  body.write(uri, 61, "ascii");
  assert.deepEqual(ix.data.subarray(8), body);
});

test("error lookup follows the IDL", () => {
  assert.equal(Object.keys(SIBYL_ERRORS).length, rawIdl.errors.length);
  for (const e of rawIdl.errors) {
    assert.deepEqual(sibylError(e.code), { code: e.code, name: e.name, msg: e.msg });
  }
  assert.equal(sibylError(1), undefined);
});

test("decodeEventFromInnerIx decodes an emit_cpi! event", () => {
  const disc = rawIdl.events.find((e) => e.name === "InferenceRequested")?.discriminator;
  assert.ok(disc);
  const [request, requester, model] = [1, 2, 3].map(() => Keypair.generate().publicKey) as [PublicKey, PublicKey, PublicKey];
  const body = Buffer.alloc(32 * 3 + 8 + 4 + 8);
  request.toBuffer().copy(body, 0);
  requester.toBuffer().copy(body, 32);
  model.toBuffer().copy(body, 64);
  body.writeBigUInt64LE(12_345n, 96);
  body.writeUInt32LE(278, 104);
  body.writeBigUInt64LE(225n, 108);
  const data = Buffer.concat([EVENT_IX_TAG_LE, Buffer.from(disc), body]);

  const event = decodeEventFromInnerIx(data);
  assert.ok(event);
  assert.equal(event.name, "inferenceRequested");
  if (event.name !== "inferenceRequested") return;
  assert.ok(event.data.request.equals(request));
  assert.ok(event.data.requester.equals(requester));
  assert.ok(event.data.model.equals(model));
  assert.equal(event.data.fee.toString(), "12345");
  assert.equal(event.data.inputLen, 278);
  assert.equal(event.data.deadlineSlot.toString(), "225");

  assert.equal(decodeEventFromInnerIx(data.subarray(8)), null, "no event tag");
  assert.equal(decodeEventFromInnerIx(Buffer.concat([EVENT_IX_TAG_LE, Buffer.alloc(8), body])), null, "unknown event");
  assert.equal(IDL.events.length, rawIdl.events.length);
});

test("generate.mjs --check fails when the IDL changed", () => {
  const ok = spawnSync(process.execPath, [GENERATOR, "--check"], { encoding: "utf8" });
  assert.equal(ok.status, 0, ok.stderr);

  // The program gains an instruction argument: the committed file is now stale.
  const changed = structuredClone(rawIdl) as RawIdl & { instructions: { args: unknown[] }[] };
  changed.instructions[0]!.args.push({ name: "extra_arg", type: "u8" });
  const dir = mkdtempSync(join(tmpdir(), "sibyl-idl-"));
  const changedPath = join(dir, "sibyl.json");
  writeFileSync(changedPath, JSON.stringify(changed, null, 2));
  const stale = spawnSync(process.execPath, [GENERATOR, "--check", "--idl", changedPath], { encoding: "utf8" });
  assert.equal(stale.status, 1);
  assert.match(stale.stderr, /app\/src\/generated\/sibyl\.ts is stale .*run `make idl`/);

  // ...and regenerating from it gives the camelCase name the types will use.
  const out = join(dir, "sibyl.ts");
  const gen = spawnSync(process.execPath, [GENERATOR, "--idl", changedPath, "--out", out], { encoding: "utf8" });
  assert.equal(gen.status, 0, gen.stderr);
  assert.match(readFileSync(out, "utf8"), /"name": "extraArg",\n\s*"type": "u8"/);
});
