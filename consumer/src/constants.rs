//! Seeds and protocol-wide bounds. Bounds are chosen so that every account the
//! program creates stays well inside one `create_account` and every instruction
//! inside one transaction; `docs/decisions.md` explains each.

/// Seed of the singleton config PDA (the program's `Config`).
pub const CONFIG_SEED: &[u8] = b"config";
/// Seed of the stake vault token account (authority: the config PDA).
pub const STAKE_VAULT_SEED: &[u8] = b"stake_vault";
/// Seed of the bond vault token account (authority: the config PDA).
pub const BOND_VAULT_SEED: &[u8] = b"bond_vault";
/// Seed of a model PDA, followed by the model's SHA-256.
pub const MODEL_SEED: &[u8] = b"model";
/// Seed of an operator PDA, followed by the operator's authority.
pub const OPERATOR_SEED: &[u8] = b"operator";
/// Seed of a request PDA, followed by the requester and the nonce (u64 LE).
pub const REQUEST_SEED: &[u8] = b"request";
/// Seed of a request's escrow token account, followed by the request.
pub const ESCROW_SEED: &[u8] = b"escrow";
/// Seed of a dispute PDA, followed by the request's model and its sequence
/// number (u64 LE): one request instance, even if its address is reused.
pub const DISPUTE_SEED: &[u8] = b"dispute";
/// Seed prefix of a model's protocol-fee vault `["fee_vault", model]`: a
/// token account owned by the config PDA that collects the protocol's share
/// of the model's fees until `sweep_fees` moves it to the treasury.
pub const FEE_VAULT_SEED: &[u8] = b"fee_vault";
/// Seed of an input buffer `["input", request, model, sequence_le, writer]`:
/// one writer's copy of a demanded referenced input (see `input_buffer`).
pub const INPUT_BUFFER_SEED: &[u8] = b"input";
/// Seed of a vote PDA, followed by the dispute and the voting operator.
pub const VOTE_SEED: &[u8] = b"vote";
/// Seed prefix of a referee game `["referee_game", model, sequence (u64 LE),
/// challenger]`: any number per request, one per challenger.
pub const REFEREE_GAME_SEED: &[u8] = b"referee_game";
/// Slots each round of a referee game may take, from the last round's end:
/// a party that has not moved by then loses (see `docs/referee.md` for why
/// 150: a node's reaction time and a congested minute, while ~25 rounds
/// still end inside a requester's patience).
pub const REFEREE_MOVE_SLOTS: u64 = 150;
/// The most nodes a referee model may have (a trace proof of 10 siblings).
pub const MAX_REFEREE_NODES: u16 = 1024;

/// Basis points in one whole.
pub const BPS_DENOMINATOR: u64 = 10_000;
/// The shortest challenge (and vote) window any config or model may set: a
/// publisher or authority cannot shrink the time watchers have to act below it.
pub const MIN_WINDOW_SLOTS: u64 = 5;
/// The longest window or period any parameter may set (about 46 days at 400
/// ms a slot): slot arithmetic never nears overflow, and no exit is put off
/// beyond reach.
pub const MAX_WINDOW_SLOTS: u64 = 10_000_000;
/// The shortest timelock of a parameter change (the unbonding period when
/// longer): a change is visible this long before it binds.
pub const MIN_CONFIG_TIMELOCK_SLOTS: u64 = 150;
/// The highest quorum and threshold the authority may set: higher ones
/// would make most disputes inconclusive, handing them to arbitration.
pub const MAX_QUORUM_AND_THRESHOLD_BPS: u16 = 9_000;
/// The largest protocol fee the authority may set.
pub const MAX_PROTOCOL_FEE_BPS: u16 = 2_000;
/// The largest share of an operator's stake one lost dispute may take.
pub const MAX_SLASH_BPS: u16 = 5_000;
/// The widest tolerance a comparison rule may allow, absolute and relative:
/// a rule that accepts anything would make every wrong output "agree".
pub const MAX_TOLERANCE: f32 = 0.01;
/// Longest model URI, in bytes.
pub const MAX_URI_LEN: usize = 200;
/// Largest input a request may declare, in bytes (a model's own bound is at
/// most this). One larger than [`MAX_ONCHAIN_INPUT_BYTES`] goes by
/// reference, and on chain only when a node demands it, into an input
/// buffer account. The write that completes a buffer hashes it whole, at
/// half a compute unit per byte (the SHA-256 syscall's price): 640 KiB
/// takes about 330 K units, inside the 400 K a node asks for at most by
/// default (`send.compute_unit_limit`). A 3×224×224 float32 image is 588 KiB.
pub const MAX_INPUT_BYTES: u32 = 640 * 1024;
/// Largest input a request may carry in its own account. Every instruction
/// on a request deserializes the account onto the program's 32 KiB heap,
/// and `write_input` grows the input beside its old copy, so an input of
/// 8 KiB takes about 24 KiB there. Larger inputs go by reference.
pub const MAX_ONCHAIN_INPUT_BYTES: u32 = 8 * 1024;
/// Input bytes a client writes per `write_input` or `write_input_buffer`
/// (a transaction is at most 1232 bytes).
pub const INPUT_CHUNK_BYTES: u32 = 800;
/// Slots a demanded input's upload window gives each chunk: writes land in
/// order, each confirmed before the next is sent, which takes a slot or two.
pub const UPLOAD_SLOTS_PER_CHUNK: u64 = 3;
/// Longest URI of an input named by reference, in bytes.
pub const MAX_INPUT_URI_LEN: usize = 200;
/// Largest committed result (canonical encoding of the outputs' views),
/// in bytes. A result travels inline in one transaction twice
/// (`commit_result`, and `challenge` with the challenger's), each with the
/// 32-byte hash of its whole output, so both must fit a 1232-byte packet: a
/// `challenge` with 576 result bytes (14 accounts, the request's sequence
/// number and the hash) fits with a node's compute-budget instructions
/// (the `largest_transactions_fit_in_a_packet` test in the oracle, and
/// `sibyl-bench` section 4). Larger outputs go on chain through views.
pub const MAX_OUTPUT_BYTES: u32 = 576;
/// Highest tensor rank a model's input or output spec may declare.
pub const MAX_TENSOR_RANK: usize = 8;
/// Most inputs, and most outputs, a model may declare (real graphs take a
/// few: a recurrent model's frame, state and rate; a text model's ids and
/// mask; a detector's boxes, scores and classes).
pub const MAX_MODEL_TENSORS: usize = 8;
/// Longest input or output name a model may declare, in bytes.
pub const MAX_TENSOR_NAME_LEN: usize = 64;
/// Accounts a consumer may name for its callback (reserved for the callback path).
pub const MAX_CALLBACK_ACCOUNTS: usize = 4;
/// Domain tag that starts every output hash preimage (see `docs/decisions.md`).
pub const OUTPUT_HASH_DOMAIN: &[u8] = b"sibyl-output-v1";
/// Domain tag of a vote commitment (see `hashing::vote_commitment`).
pub const VOTE_COMMITMENT_DOMAIN: &[u8] = b"sibyl-vote-v1";
/// What a vote costs its operator, in bps of the vote's weight, when it was
/// never revealed or backed a side that lost: copying the majority, or
/// committing and waiting, must cost more than re-executing.
pub const VOTE_PENALTY_BPS: u16 = 100;

/// Byte offset of `InferenceRequest::model` in the account data (after the
/// 8-byte discriminator and the requester), for `getProgramAccounts` filters.
pub const REQUEST_MODEL_OFFSET: usize = 8 + 32;
/// Byte offset of `InferenceRequest::status` (one byte, the variant index).
pub const REQUEST_STATUS_OFFSET: usize = 8 + 32 + 32 + 32 + 8;
/// Byte offset of `InferenceRequest::deadline_slot` (a little-endian u64),
/// within its head: a crank finds the requests to expire from heads alone.
pub const REQUEST_DEADLINE_OFFSET: usize = REQUEST_STATUS_OFFSET + 1 + 8 + 2 + 2 + 8 + 8 + 8;
/// Length of the fixed-size head of an `InferenceRequest` account: the
/// discriminator through `open_games`, before the comparison rule and the
/// input and output bytes. Every step of a request changes its head (status,
/// the input hash once the input is complete, the commitment), so a client
/// can watch heads alone (`getProgramAccounts` with `dataSlice`) and read a
/// whole account only when its head changed.
pub const REQUEST_HEAD_LEN: usize = 8
    + 32 // requester
    + 32 // model
    + 32 // model_hash
    + 8 // nonce
    + 1 // status
    + 8 // fee
    + 2 // protocol_fee_bps
    + 2 // royalty_bps
    + 8 // challenge_window_slots
    + 8 // created_slot
    + 8 // sequence
    + 8 // deadline_slot
    + 4 // input_len
    + 32 // input_hash
    + 4 // max_output_bytes
    + 32 // operator
    + 8 // committed_slot
    + 8 // challenge_deadline_slot
    + 32 // output_hash
    + 32 // callback_program
    + 32 * MAX_CALLBACK_ACCOUNTS
    + 1 // callback_account_count
    + 1 // callback_writable
    + 1 // bump
    + 1 // escrow_bump
    + 32 // refund_token
    + 32 // input_demanded_by
    + 8 // input_upload_deadline_slot
    + 32 // input_buffer
    + 32 // whole_output_sha256
    + 32 // trace_root
    + 4; // open_games
/// The native loader, which owns builtin programs (how the localnet and the
/// tests run Sibyl).
pub const NATIVE_LOADER_ID: anchor_lang::prelude::Pubkey =
    anchor_lang::pubkey!("NativeLoader1111111111111111111111111111111");
/// Byte offset of `Vote::dispute` (after the discriminator).
pub const VOTE_DISPUTE_OFFSET: usize = 8;
