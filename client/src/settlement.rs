//! Settlements as transactions: the instructions that finalize, resolve or
//! expire a request, built from the accounts a settler has read. The crank,
//! the command line and the benchmarks send these; none builds its own.
use crate::{
    accounts::{self, Payees, RequestParties, Tokens, VoteParties},
    instruction,
};
use anchor_lang::prelude::Pubkey;
use sibyl::state::{Dispute, InferenceRequest, Operator};
use solana_instruction::Instruction;

/// One settlement's instructions; for a request that named a callback, also
/// the same settlement without the callback's accounts (the program lets a
/// settlement skip a failing callback once its grace period passed).
#[derive(Clone, Debug)]
pub struct Settlement {
    /// The instruction's name, for logs.
    pub name: &'static str,
    pub instructions: Vec<Instruction>,
    pub without_callback: Option<Vec<Instruction>>,
}

impl Settlement {
    /// A settlement that delivers the result to the request's callback,
    /// when it named one: the callback's accounts follow the settlement's.
    fn with_callback(
        name: &'static str,
        settlement: Instruction,
        state: &InferenceRequest,
    ) -> Self {
        let without_callback = state.has_callback().then(|| vec![settlement.clone()]);
        let mut delivered = settlement;
        delivered
            .accounts
            .extend(accounts::callback_accounts(state));
        Self {
            name,
            instructions: vec![delivered],
            without_callback,
        }
    }

    fn plain(name: &'static str, settlement: Instruction) -> Self {
        Self {
            name,
            instructions: vec![settlement],
            without_callback: None,
        }
    }
}

/// Finalizes a committed request whose challenge window passed.
pub fn finalize(
    cranker: Pubkey,
    request: Pubkey,
    state: &InferenceRequest,
    payees: Payees,
    tokens: Tokens,
) -> Settlement {
    Settlement::with_callback(
        "finalize",
        instruction(
            accounts::finalize(cranker, RequestParties::of(request, state), payees, tokens),
            sibyl::instruction::Finalize {},
        ),
        state,
    )
}

/// Resolves a dispute by its votes.
pub fn resolve_dispute(
    cranker: Pubkey,
    request: Pubkey,
    state: &InferenceRequest,
    dispute: &Dispute,
    payees: Payees,
    tokens: Tokens,
) -> Settlement {
    let settle = accounts::settle_dispute(
        RequestParties::of(request, state),
        dispute.challenger,
        dispute.challenger_token,
        payees,
        tokens,
    );
    Settlement::with_callback(
        "resolve_dispute",
        instruction(
            accounts::resolve_dispute(cranker, settle),
            sibyl::instruction::ResolveDispute {},
        ),
        state,
    )
}

/// Ends an inconclusive dispute that nobody arbitrated in time.
pub fn expire_arbitration(
    cranker: Pubkey,
    request: Pubkey,
    state: &InferenceRequest,
    dispute: &Dispute,
    tokens: Tokens,
) -> Settlement {
    Settlement::plain(
        "expire_arbitration",
        instruction(
            accounts::expire_arbitration(
                cranker,
                RequestParties::of(request, state),
                dispute.challenger,
                dispute.challenger_token,
                tokens,
            ),
            sibyl::instruction::ExpireArbitration {},
        ),
    )
}

/// Refunds a request nobody served before its deadline.
pub fn expire_request(
    cranker: Pubkey,
    request: Pubkey,
    state: &InferenceRequest,
    tokens: Tokens,
) -> Settlement {
    Settlement::plain(
        "expire_request",
        instruction(
            accounts::expire_request(cranker, RequestParties::of(request, state), tokens),
            sibyl::instruction::ExpireRequest {},
        ),
    )
}

/// Voids a request whose demanded input was not written in time.
pub fn void_request(
    cranker: Pubkey,
    request: Pubkey,
    state: &InferenceRequest,
    tokens: Tokens,
) -> Settlement {
    Settlement::plain(
        "void_request",
        instruction(
            accounts::void_request(cranker, RequestParties::of(request, state), tokens),
            sibyl::instruction::VoidRequest {},
        ),
    )
}

/// Closes the input buffer `header` describes (its rent to its writer).
pub fn close_input_buffer(closer: Pubkey, header: &sibyl::state::InputBufferHeader) -> Settlement {
    Settlement::plain(
        "close_input_buffer",
        instruction(
            accounts::close_input_buffer(
                closer,
                header.request,
                header.model,
                header.sequence,
                header.writer,
            ),
            sibyl::instruction::CloseInputBuffer {
                model: header.model,
                sequence: header.sequence,
            },
        ),
    )
}

/// Claims `voter`'s vote in a settled dispute (anyone may send it; the
/// reward goes to the voter's recorded payout account).
pub fn claim_vote(
    claimer: Pubkey,
    dispute_key: Pubkey,
    dispute: &Dispute,
    voter: Pubkey,
    voter_account: &Operator,
    tokens: Tokens,
) -> Settlement {
    Settlement::plain(
        "claim_vote",
        instruction(
            accounts::claim_vote(
                claimer,
                VoteParties::of(dispute_key, dispute, voter, voter_account),
                tokens,
            ),
            sibyl::instruction::ClaimVote {},
        ),
    )
}

/// Settles a decided referee game. `request` is the game's request as read
/// now, if it is still there (a request another game rejected is closed,
/// and nothing is refunded from it: its accounts are then the
/// challenger's, which the program does not pay).
pub fn settle_referee_game(
    cranker: Pubkey,
    game: Pubkey,
    state: &sibyl::state::RefereeGame,
    request: Option<&InferenceRequest>,
    operator: &Operator,
    tokens: Tokens,
) -> Settlement {
    let parties = match request {
        Some(request) => RequestParties::of(state.request, request),
        None => RequestParties {
            request: state.request,
            requester: state.challenger,
            model: state.model,
            operator: state.operator,
            dispute: Pubkey::default(),
            refund_token: state.challenger_token,
        },
    };
    let payees = Payees {
        operator_token: operator.payout_token,
        publisher_token: Pubkey::default(),
    };
    Settlement::plain(
        "settle_referee_game",
        instruction(
            accounts::settle_referee_game(cranker, game, state, parties, payees, tokens),
            sibyl::instruction::SettleRefereeGame {},
        ),
    )
}

/// Decides a referee game whose round's deadline passed.
pub fn claim_referee_timeout(cranker: Pubkey, game: Pubkey) -> Settlement {
    Settlement::plain(
        "claim_referee_timeout",
        instruction(
            accounts::claim_referee_timeout(cranker, game),
            sibyl::instruction::ClaimRefereeTimeout {},
        ),
    )
}
