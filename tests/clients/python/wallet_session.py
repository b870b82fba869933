"""A wallet session against the Sibyl localnet through Solana's Python client.

Drives `sibyl-demo --serve` (a localnet with oracle nodes) only through
libraries the project does not own: `solana` (solana-py's AsyncClient, whose
responses solders parses into typed results, so a wrong shape fails here)
and `solders` (keys, messages, transactions). SPL Token and Associated Token
instructions are encoded by hand from their published layouts, and the Sibyl
request from `idl/sibyl.json`, as a Python integrator without an SDK would.

The session: cluster facts, an airdrop, a SOL transfer, an associated token
account and a token transfer (previewed by simulation first), a delegate,
the wallet's token accounts, priority fees, the block holding the transfer,
then a Sibyl request paid with the token and followed to its final result,
which must be the output Python onnxruntime recorded for the same input.

Usage: wallet_session.py [--demo PATH]   (default: target/debug/sibyl-demo)
Prints one line per step; exits non-zero on the first failure.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solana.rpc.models import TokenAccountOpts, TxOpts
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.token.state import TokenAccount
from solders.transaction import VersionedTransaction
from solders.transaction_status import TransactionDetails

ROOT = Path(__file__).resolve().parents[3]
TOKEN_PROGRAM = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
ASSOCIATED_TOKEN_PROGRAM = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")
SYSTEM_PROGRAM = Pubkey.from_string("11111111111111111111111111111111")
LAMPORTS_PER_SOL = 1_000_000_000
READY_TIMEOUT_S = 240
FINAL_TIMEOUT_S = 180


CALLED: set[str] = set()
"""The JSON-RPC methods the session called, for docs/localnet.md's table."""


def record_methods(client: AsyncClient) -> None:
    """Notes each method `client` calls (every request goes through
    `make_request_unparsed` of its HTTP provider)."""
    provider = client._provider
    original = provider.make_request_unparsed

    async def recording(body):
        CALLED.add(json.loads(body.to_json())["method"])
        return await original(body)

    provider.make_request_unparsed = recording


def step(name: str, detail: str) -> None:
    print(f"python: ok   {name:<28} {detail}", flush=True)


def check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


# --- the cluster -------------------------------------------------------------


def start_cluster(demo: Path, fund: Pubkey) -> tuple[subprocess.Popen, dict]:
    """Starts `sibyl-demo --serve` funding `fund`, and waits for its ready line."""
    child = subprocess.Popen(
        [str(demo), "--serve", "--rpc-port", "0", "--ws-port", "0", "--fund", str(fund)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "error")},
    )
    deadline = time.monotonic() + READY_TIMEOUT_S
    assert child.stdout is not None
    for line in child.stdout:
        if line.startswith("{"):
            ready = json.loads(line)
            if ready.get("ready"):
                return child, ready
        if time.monotonic() > deadline:
            break
    child.kill()
    raise RuntimeError("sibyl-demo --serve was not ready in time")


# --- instructions from published layouts -------------------------------------


def associated_token_address(owner: Pubkey, mint: Pubkey) -> Pubkey:
    return Pubkey.find_program_address(
        [bytes(owner), bytes(TOKEN_PROGRAM), bytes(mint)], ASSOCIATED_TOKEN_PROGRAM
    )[0]


def create_associated_token_account_idempotent(payer: Pubkey, owner: Pubkey, mint: Pubkey) -> Instruction:
    return Instruction(
        ASSOCIATED_TOKEN_PROGRAM,
        bytes([1]),  # CreateIdempotent
        [
            AccountMeta(payer, True, True),
            AccountMeta(associated_token_address(owner, mint), False, True),
            AccountMeta(owner, False, False),
            AccountMeta(mint, False, False),
            AccountMeta(SYSTEM_PROGRAM, False, False),
            AccountMeta(TOKEN_PROGRAM, False, False),
        ],
    )


def transfer_checked(source: Pubkey, mint: Pubkey, destination: Pubkey, owner: Pubkey, amount: int, decimals: int) -> Instruction:
    return Instruction(
        TOKEN_PROGRAM,
        bytes([12]) + struct.pack("<QB", amount, decimals),  # TransferChecked
        [
            AccountMeta(source, False, True),
            AccountMeta(mint, False, False),
            AccountMeta(destination, False, True),
            AccountMeta(owner, True, False),
        ],
    )


def approve(source: Pubkey, delegate: Pubkey, owner: Pubkey, amount: int) -> Instruction:
    return Instruction(
        TOKEN_PROGRAM,
        bytes([4]) + struct.pack("<Q", amount),  # Approve
        [
            AccountMeta(source, False, True),
            AccountMeta(delegate, False, False),
            AccountMeta(owner, True, False),
        ],
    )


# --- the Sibyl program, from its IDL ------------------------------------------


class Idl:
    """What this session needs of `idl/sibyl.json`: discriminators, account
    order, PDA seeds, and the offsets of fixed-size account fields."""

    SIZES = {"bool": 1, "u8": 1, "i8": 1, "u16": 2, "i16": 2, "u32": 4, "i32": 4, "u64": 8, "i64": 8, "pubkey": 32}

    def __init__(self, path: Path):
        self.idl = json.loads(path.read_text())
        self.program = Pubkey.from_string(self.idl["address"])
        self.types = {t["name"]: t["type"] for t in self.idl["types"]}

    def instruction(self, name: str) -> dict:
        return next(ix for ix in self.idl["instructions"] if ix["name"] == name)

    def pda(self, seeds: list[bytes]) -> Pubkey:
        return Pubkey.find_program_address(seeds, self.program)[0]

    def size(self, ty) -> int | None:
        """The Borsh size of a fixed-size type; None if it varies."""
        if isinstance(ty, str):
            return self.SIZES.get(ty)
        if "array" in ty:
            inner, count = ty["array"]
            inner_size = self.size(inner)
            return None if inner_size is None else inner_size * count
        if "defined" in ty:
            defined = self.types[ty["defined"]["name"]]
            if defined["kind"] == "enum" and all("fields" not in v for v in defined["variants"]):
                return 1
        return None

    def field_offset(self, account: str, field: str) -> int:
        """Where `field` of `account` starts (after the 8-byte discriminator)."""
        offset = 8
        for f in self.types[account]["fields"]:
            if f["name"] == field:
                return offset
            size = self.size(f["type"])
            if size is None:
                raise ValueError(f"{account}.{field} follows a field of variable size")
            offset += size
        raise KeyError(field)

    def enum_index(self, name: str, variant: str) -> int:
        return [v["name"] for v in self.types[name]["variants"]].index(variant)


def request_inference(idl: Idl, requester: Pubkey, model: Pubkey, mint: Pubkey, nonce: int, fee: int, data: bytes) -> tuple[Instruction, Pubkey]:
    """`request_inference` with the whole input inline and no callback."""
    spec = idl.instruction("request_inference")
    request = idl.pda([b"request", bytes(requester), struct.pack("<Q", nonce)])
    addresses = {
        "requester": requester,
        "config": idl.pda([b"config"]),
        "model": model,
        "request": request,
        "escrow": idl.pda([b"escrow", bytes(request)]),
        "requester_token": associated_token_address(requester, mint),
        "mint": mint,
        "token_program": TOKEN_PROGRAM,
        "system_program": SYSTEM_PROGRAM,
        "event_authority": idl.pda([b"__event_authority"]),
        "program": idl.program,
    }
    metas = [
        AccountMeta(addresses[a["name"]], a.get("signer", False), a.get("writable", False))
        for a in spec["accounts"]
    ]
    # RequestInferenceArgs: nonce u64, fee u64, input_len u32, input bytes,
    # input_reference None, callback None, max_challenge_window_slots None.
    args = struct.pack("<QQI", nonce, fee, len(data)) + struct.pack("<I", len(data)) + data + bytes([0, 0, 0])
    return Instruction(idl.program, bytes(spec["discriminator"]) + args, metas), request


# --- the session --------------------------------------------------------------


async def send(client: AsyncClient, payer: Keypair, instructions: list[Instruction], signers: list[Keypair], v0: bool = False) -> Signature:
    blockhash = (await client.get_latest_blockhash()).value
    if v0:
        message = MessageV0.try_compile(payer.pubkey(), instructions, [], blockhash.blockhash)
    else:
        message = Message.new_with_blockhash(instructions, payer.pubkey(), blockhash.blockhash)
    transaction = VersionedTransaction(message, signers)
    signature = (await client.send_transaction(transaction, opts=TxOpts(preflight_commitment=Confirmed))).value
    status = await client.confirm_transaction(signature, Confirmed, sleep_seconds=0.1, last_valid_block_height=blockhash.last_valid_block_height)
    check(status.value[0] is not None and status.value[0].err is None, f"{signature} failed: {status.value[0]}")
    return signature


async def wait_for_block(client: AsyncClient, slot: int):
    """The block of `slot`, once its slot has ended (a validator serves no
    block before it is complete)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return await client.get_block(slot, encoding="jsonParsed", max_supported_transaction_version=0)
        except Exception as err:  # "Block not available for slot N" until the slot ends
            if time.monotonic() > deadline:
                raise
            if "not available" not in str(err):
                raise
            await asyncio.sleep(0.1)


async def session(rpc: str, ready: dict, alice: Keypair) -> None:
    idl = Idl(ROOT / "idl" / "sibyl.json")
    mint = Pubkey.from_string(ready["mint"])
    async with AsyncClient(rpc, commitment=Confirmed) as client:
        record_methods(client)
        version = (await client.get_version()).value
        genesis = (await client.get_genesis_hash()).value
        identity = (await client.get_identity()).value.identity
        nodes = (await client.get_cluster_nodes()).value
        check(nodes[0].pubkey == identity and nodes[0].rpc is not None, f"cluster nodes: {nodes}")
        votes = (await client.get_vote_accounts()).value
        check(len(votes.current) == 1 and votes.current[0].node_pubkey == identity, f"vote accounts: {votes}")
        supply = (await client.get_supply()).value
        check(supply.total == supply.circulating + supply.non_circulating, "supply adds up")
        first = (await client.get_first_available_block()).value
        minimum = (await client.get_minimum_ledger_slot()).value
        samples = (await client.get_recent_performance_samples(5)).value
        epoch = (await client.get_epoch_info()).value
        step("cluster", f"solana-core {version.solana_core}, genesis {str(genesis)[:8]}…, identity {str(identity)[:8]}…, "
             f"slot {epoch.absolute_slot}, {supply.total / LAMPORTS_PER_SOL:,.0f} SOL supply, first block {first}, "
             f"ledger from {minimum}, {len(samples)} performance samples")

        bob = Keypair()
        airdrop = (await client.request_airdrop(bob.pubkey(), 2 * LAMPORTS_PER_SOL)).value
        await client.confirm_transaction(airdrop, Confirmed, sleep_seconds=0.1)
        balance = (await client.get_balance(bob.pubkey())).value
        check(balance == 2 * LAMPORTS_PER_SOL, f"bob has {balance}")
        step("airdrop", f"2 SOL to a new wallet {str(bob.pubkey())[:8]}… ({airdrop})")

        before = (await client.get_balance(alice.pubkey())).value
        sol = await send(client, alice, [transfer(TransferParams(from_pubkey=alice.pubkey(), to_pubkey=bob.pubkey(), lamports=LAMPORTS_PER_SOL // 4))], [alice], v0=True)
        after = (await client.get_balance(alice.pubkey())).value
        fee = (await client.get_transaction(sol, max_supported_transaction_version=0)).value.transaction.meta.fee
        check(before - after == LAMPORTS_PER_SOL // 4 + fee, "the sender paid the amount and the fee")
        step("sol transfer (v0)", f"0.25 SOL to bob, fee {fee} lamports")

        fees = (await client.get_recent_prioritization_fees([associated_token_address(alice.pubkey(), mint)])).value
        check(len(fees) > 0, "recent prioritization fees")
        price = max(1, max(f.prioritization_fee for f in fees))
        step("priority fees", f"{len(fees)} recent slots, highest {max(f.prioritization_fee for f in fees)} µlamports/CU; paying {price}")

        alice_token = associated_token_address(alice.pubkey(), mint)
        bob_token = associated_token_address(bob.pubkey(), mint)
        decimals = (await client.get_token_supply(mint)).value.decimals
        amount = 5 * 10**decimals
        token_transfer = [
            set_compute_unit_limit(60_000),
            set_compute_unit_price(price),
            create_associated_token_account_idempotent(bob.pubkey(), bob.pubkey(), mint),
            transfer_checked(alice_token, mint, bob_token, alice.pubkey(), amount, decimals),
        ]
        # The wallet's preview: simulate with a fresh blockhash, unsigned
        # checks off, and read the accounts as they would be afterwards.
        preview_message = Message.new_with_blockhash(token_transfer, bob.pubkey(), (await client.get_latest_blockhash()).value.blockhash)
        preview = (await client.simulate_transaction(
            VersionedTransaction(preview_message, [bob, alice]),
            replace_recent_blockhash=True,
            accounts_addresses=[bob_token, alice_token],
            accounts_encoding="base64",
        )).value
        check(preview.err is None, f"simulation failed: {preview.err} {preview.logs}")
        # solders decodes a simulation's accounts from base64 only (its
        # typed result cannot hold jsonParsed data; the kit suite asks for
        # jsonParsed), so the wallet decodes the token account itself.
        previewed = TokenAccount.from_bytes(bytes(preview.accounts[0].data)).amount
        check(previewed == amount, f"preview shows {previewed}")
        signed = (await client.simulate_transaction(VersionedTransaction(preview_message, [bob, alice]), sig_verify=True)).value
        check(signed.err is None, "a signed simulation passes sigVerify")
        check((await client.get_account_info(bob_token)).value is None, "a simulation changes nothing")
        quoted_fee = (await client.get_fee_for_message(preview_message)).value
        step("simulation preview", f"bob's token account would hold {previewed / 10**decimals:g} (replaceRecentBlockhash, base64 accounts; sigVerify passes)")

        token_signature = await send(client, bob, token_transfer, [bob, alice])
        step("token transfer", f"5 tokens alice → bob's new associated token account ({token_signature})")

        await send(client, alice, [approve(alice_token, bob.pubkey(), alice.pubkey(), 10**decimals)], [alice])
        by_owner = (await client.get_token_accounts_by_owner_json_parsed(bob.pubkey(), TokenAccountOpts(mint=mint))).value
        check(len(by_owner) == 1 and by_owner[0].pubkey == bob_token, f"bob's accounts: {by_owner}")
        info = json.loads(by_owner[0].account.to_json())["data"]["parsed"]["info"]
        check(info["tokenAmount"]["uiAmountString"] == "5" and info["owner"] == str(bob.pubkey()), f"parsed: {info}")
        by_program = (await client.get_token_accounts_by_owner(alice.pubkey(), TokenAccountOpts(program_id=TOKEN_PROGRAM))).value
        check([a.pubkey for a in by_program] == [alice_token], "alice's accounts by program id (base64)")
        delegated = (await client.get_token_accounts_by_delegate_json_parsed(bob.pubkey(), TokenAccountOpts(mint=mint))).value
        check([a.pubkey for a in delegated] == [alice_token], "bob is the delegate of alice's account")
        balance = (await client.get_token_account_balance(bob_token)).value
        largest = (await client.get_token_largest_accounts(mint)).value
        check(any(a.address == bob_token for a in largest), "bob among the largest holders")
        total = (await client.get_token_supply(mint)).value
        step("token accounts", f"bob: {balance.ui_amount_string} ({info['state']}, owner checked); alice by program id; "
             f"delegate lists alice's; {len(largest)} largest holders; supply {total.ui_amount_string}")

        transaction = (await client.get_transaction(token_signature, encoding="jsonParsed", max_supported_transaction_version=0)).value
        parsed = json.loads(transaction.transaction.to_json())
        kinds = [ix.get("parsed", {}).get("type") for ix in parsed["transaction"]["message"]["instructions"]]
        check("transferChecked" in kinds, f"parsed instructions: {kinds}")
        post = {b["owner"]: b["uiTokenAmount"]["uiAmountString"] for b in parsed["meta"]["postTokenBalances"]}
        check(post.get(str(bob.pubkey())) == "5", f"post token balances: {post}")
        fee = parsed["meta"]["fee"]
        check(fee == quoted_fee, f"charged {fee}, quoted {quoted_fee}")
        activity = (await client.get_signatures_for_address(bob.pubkey(), limit=10)).value
        check(token_signature in [entry.signature for entry in activity], "bob's activity lists the transfer")
        both = (await client.get_multiple_accounts_json_parsed([bob_token, alice_token])).value
        check(all(account is not None for account in both), "both token accounts")
        step("transaction (jsonParsed)", f"instructions {kinds}; post token balances {post}; fee {fee} as quoted; "
             f"{len(activity)} entries in bob's activity")

        slot = transaction.slot
        block = (await wait_for_block(client, slot)).value
        signatures = [json.loads(t.transaction.to_json())["signatures"][0] for t in block.transactions]
        check(str(token_signature) in signatures, "the block holds the transfer")
        only = (await client.get_block(slot, transaction_details=TransactionDetails.Signatures)).value
        check(str(token_signature) in [str(s) for s in only.signatures], "signatures detail")
        raw = (await client.get_block(slot, encoding="base64", max_supported_transaction_version=0)).value
        check(len(raw.transactions) == len(block.transactions), "base64 block")
        blocks = (await client.get_blocks(slot - 2, slot)).value
        check(slot in blocks, f"get_blocks: {blocks}")
        block_time = (await client.get_block_time(slot)).value
        check(block_time == block.block_time, "block time")
        step("block", f"slot {slot} (height {block.block_height}, parent {block.parent_slot}) holds the transfer among "
             f"{len(block.transactions)} transactions; {len(block.rewards or [])} rewards; blocks {blocks}")

        await sibyl_request(client, idl, ready, bob, mint)


async def sibyl_request(client: AsyncClient, idl: Idl, ready: dict, requester: Keypair, mint: Pubkey) -> None:
    model = Pubkey.from_string(next(m["address"] for m in ready["models"] if m["name"] == "digits"))
    fixture = next(f for f in json.loads((ROOT / "models" / "fixtures.json").read_text())["fixtures"] if f["name"] == "digits")
    case = fixture["cases"][0]
    data = bytes.fromhex(case["input_encoding"])
    model_account = (await client.get_account_info(model)).value
    price_at = idl.field_offset("Model", "price")
    price = struct.unpack_from("<Q", model_account.data, price_at)[0]
    requester_token = associated_token_address(requester.pubkey(), mint)
    tokens_before = int((await client.get_token_account_balance(requester_token)).value.amount)
    instruction, request = request_inference(idl, requester.pubkey(), model, mint, int(time.time()), price, data)
    signature = await send(client, requester, [set_compute_unit_limit(400_000), instruction], [requester])
    tokens_after = int((await client.get_token_account_balance(requester_token)).value.amount)
    check(tokens_before - tokens_after == price, "the fee left the wallet")
    step("sibyl request", f"digit {case['label']} on the digits model, fee {price} base units escrowed ({signature})")

    status_at = idl.field_offset("InferenceRequest", "status")
    output_hash_at = idl.field_offset("InferenceRequest", "output_hash")
    operator_at = idl.field_offset("InferenceRequest", "operator")
    finalized = idl.enum_index("RequestStatus", "Finalized")
    names = [v["name"] for v in idl.types["RequestStatus"]["variants"]]
    seen = []
    deadline = time.monotonic() + FINAL_TIMEOUT_S
    while True:
        account = (await client.get_account_info(request)).value
        check(account is not None, "the request account exists")
        data = bytes(account.data)
        status = names[data[status_at]]
        if not seen or seen[-1] != status:
            seen.append(status)
        if data[status_at] == finalized:
            break
        check(time.monotonic() < deadline, f"not final in {FINAL_TIMEOUT_S} s: {seen}")
        await asyncio.sleep(0.25)
    output_hash = data[output_hash_at:output_hash_at + 32].hex()
    check(output_hash == case["output_hash"], f"final output {output_hash} is not onnxruntime's {case['output_hash']}")
    operator = Pubkey.from_bytes(data[operator_at:operator_at + 32])
    step("sibyl final result", f"{' → '.join(seen)}; committed by operator {str(operator)[:8]}…; output hash "
         f"{output_hash[:16]}… = Python onnxruntime's (predicted {case['predicted']})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    parser.add_argument("--demo", type=Path, default=target / "debug" / "sibyl-demo")
    args = parser.parse_args()
    alice = Keypair()
    started = time.monotonic()
    child, ready = start_cluster(args.demo, alice.pubkey())
    try:
        step("cluster ready", f"{ready['rpc']} in {time.monotonic() - started:.1f} s (alice {str(alice.pubkey())[:8]}… funded)")
        asyncio.run(session(ready["rpc"], ready, alice))
    finally:
        child.terminate()
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
    print(f"python: wallet session passed in {time.monotonic() - started:.1f} s")
    print(f"python: JSON-RPC methods called ({len(CALLED)}): {', '.join(sorted(CALLED))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
