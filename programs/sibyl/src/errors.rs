//! Every rule the program enforces, each with a message a user can act on.
use anchor_lang::prelude::*;

#[error_code]
pub enum SibylError {
    #[msg("Arithmetic overflow: an amount or slot is too large")]
    MathOverflow,
    #[msg("The protocol is paused: new requests, commits and registrations are refused")]
    ProtocolPaused,
    #[msg("Only the protocol authority may do this")]
    NotAuthority,
    #[msg("A basis-point value is above 10000")]
    InvalidBps,
    #[msg("The vote threshold must be above 5000 bps so that only one side can win")]
    InvalidThreshold,
    #[msg("A slot window is out of bounds: challenge and vote windows at least 5 slots, every window 1 to 10,000,000 slots")]
    InvalidWindow,
    #[msg("The token account is not of the protocol's payment mint")]
    WrongMint,
    #[msg("The token account is not owned by the expected wallet")]
    WrongTokenOwner,
    #[msg("The treasury account does not match the configured treasury")]
    WrongTreasury,
    #[msg("The model URI must be 1 to 200 bytes")]
    InvalidUri,
    #[msg("The model's price must be greater than zero")]
    InvalidPrice,
    #[msg("The input or output specs are invalid: 1 to 8 a side with distinct names of 1 to 64 bytes, rank 0 to 8, every dimension positive or -1")]
    InvalidTensorSpec,
    #[msg("The model's input or output bound is above the protocol maximum, or below the smallest input or output its specs allow")]
    InvalidSizeBound,
    #[msg("The comparison rule is invalid: tolerances and tie margins from 0 to 0.01, k at least 1, and top-k only for float outputs whose last axis is a fixed number of classes above 1")]
    InvalidComparisonRule,
    #[msg("Protocol fee plus publisher royalty exceed 10000 bps")]
    FeeSplitTooLarge,
    #[msg("Only the model's publisher may do this")]
    NotPublisher,
    #[msg("The model is retired and takes no new requests")]
    ModelRetired,
    #[msg("The model is already retired")]
    ModelAlreadyRetired,
    #[msg("The account belongs to another model")]
    WrongModel,
    #[msg("The stake is below the protocol minimum")]
    StakeBelowMinimum,
    #[msg("The amount must be greater than zero")]
    ZeroAmount,
    #[msg("The amount exceeds the operator's active stake")]
    InsufficientStake,
    #[msg("No unstake is pending")]
    NothingToWithdraw,
    #[msg("The unbonding period has not ended")]
    UnbondingNotEnded,
    #[msg("The operator still has open commitments")]
    OpenCommitments,
    #[msg("The operator still has votes in unsettled disputes")]
    OpenVotes,
    #[msg("The fee is below the model's price")]
    FeeBelowPrice,
    #[msg("The input is empty")]
    EmptyInput,
    #[msg("The input is larger than the model's (or the protocol's) input bound")]
    InputTooLarge,
    #[msg("The chunk does not start where the uploaded input ends")]
    InputOffsetMismatch,
    #[msg("The chunk would write past the declared input length")]
    InputOverflow,
    #[msg("The input is already complete")]
    InputAlreadyComplete,
    #[msg("The input has not been fully uploaded")]
    InputIncomplete,
    #[msg("An input by reference needs a URI of 1 to 200 bytes starting https://, http:// or file:// (no spaces or control characters), a SHA-256 that is not zero, and no inline bytes")]
    InvalidInputReference,
    #[msg("The request carries its input on chain: there is nothing to demand")]
    InputNotByReference,
    #[msg("The request's input was demanded already (one demand per request)")]
    InputAlreadyDemanded,
    #[msg("An input may be demanded only while its request is pending, or committed and inside its challenge window")]
    InputDemandClosed,
    #[msg(
        "The operator that committed a result claimed to have its input, so it may not demand it"
    )]
    CommitterCannotDemand,
    #[msg("The request's input was demanded and is not on chain yet: nothing is committed, challenged or finalized until the requester writes it or the request is voided")]
    InputAwaitingUpload,
    #[msg("An input by reference is written on chain only after a node demands it")]
    InputNotDemanded,
    #[msg("The request names its input by reference: once demanded, it is written into an input buffer (write_input_buffer), by anyone holding the bytes")]
    InputIsByReference,
    #[msg("A referenced input must be on chain before its result is challenged, so that every voter has it: demand it, and write it (anyone holding the bytes may)")]
    InputNotOnChain,
    #[msg("The input buffer is not this request's, or is not a buffer")]
    WrongInputBuffer,
    #[msg("This buffer holds the input of a request still open: it closes once the request is final or closed")]
    InputBufferInUse,
    #[msg("The window to write the demanded input has closed")]
    InputUploadWindowClosed,
    #[msg("The complete input does not hash to the SHA-256 the request declared")]
    InputHashMismatch,
    #[msg("Only a request whose demanded input was not written within its window can be voided")]
    NotVoidable,
    #[msg("Only the requester may do this")]
    NotRequester,
    #[msg("The request is not pending")]
    RequestNotPending,
    #[msg("The request has no committed result awaiting its window")]
    RequestNotCommitted,
    #[msg("The request is not challenged")]
    RequestNotChallenged,
    #[msg("The request has not reached a final state")]
    RequestNotSettled,
    #[msg("The request's deadline has passed")]
    RequestDeadlinePassed,
    #[msg("The request's deadline has not passed yet")]
    RequestDeadlineNotReached,
    #[msg("The operator is not eligible: stake below the minimum")]
    OperatorNotEligible,
    #[msg("The output is empty")]
    EmptyOutput,
    #[msg("The output is larger than the model's output bound")]
    OutputTooLarge,
    #[msg("The challenge window has closed")]
    ChallengeWindowClosed,
    #[msg("The challenge window is still open")]
    ChallengeWindowOpen,
    #[msg("The operator cannot challenge its own result")]
    SelfChallenge,
    #[msg("The challenger's output is identical to the committed output")]
    ChallengeSameOutput,
    #[msg("The dispute is not open for votes")]
    DisputeNotOpen,
    #[msg("The vote window has closed")]
    VoteWindowClosed,
    #[msg("Votes are still being committed, or revealed votes can still change the outcome")]
    VoteWindowOpen,
    #[msg("A party to the dispute cannot vote in it")]
    PartyCannotVote,
    #[msg("The operator registered after the dispute opened and cannot vote in it")]
    VoterRegisteredTooLate,
    #[msg("This operator has already voted in this dispute")]
    AlreadyVoted,
    #[msg("The dispute is not awaiting arbitration")]
    DisputeNotInconclusive,
    #[msg("The arbitration deadline has passed")]
    ArbitrationDeadlinePassed,
    #[msg("The arbitration deadline has not passed yet")]
    ArbitrationDeadlineNotReached,
    #[msg("Arbitration must uphold one side")]
    InvalidArbitration,
    #[msg("The dispute is not settled yet")]
    DisputeNotSettled,
    #[msg("The account does not belong to this dispute")]
    WrongDispute,
    #[msg("The account does not belong to this operator")]
    WrongOperator,
    #[msg("The wallet does not match the account's recorded party")]
    WrongParty,
    #[msg("A callback names Sibyl itself, no program, or more accounts than allowed")]
    InvalidCallback,
    #[msg("The callback accounts do not match those the request named (program, callback authority, then each named account in order)")]
    CallbackAccountsMismatch,
    #[msg("The request names a callback: pass its accounts (skipping it is allowed only after the grace period)")]
    CallbackAccountsMissing,
    #[msg("The output is not a canonical tensor encoding (see the protocol's encoding)")]
    OutputNotCanonical,
    #[msg("The output does not fit the model's output specs: one tensor per output, in graph order, with its name, dtype, rank and fixed dimensions")]
    OutputSpecMismatch,
    #[msg("The operator has no active stake that was bonded before the dispute opened: no weight to vote with")]
    NoVotingWeight,
    #[msg("A parameter is outside the protocol's bounds (protocol fee at most 2000 bps, slash 1 to 5000 bps, quorum 1 to 9000 bps, threshold at most 9000 bps, challenge bond at most the minimum operator stake)")]
    ParameterOutOfBounds,
    #[msg("No change is pending")]
    NoPendingChange,
    #[msg("The change's timelock has not elapsed")]
    TimelockNotElapsed,
    #[msg("Only the pending authority named by update_config may accept")]
    NotPendingAuthority,
    #[msg("The payment mint has a Token-2022 extension Sibyl refuses (transfer fee, transfer hook, permanent delegate, default account state, pausable, confidential, non-transferable or close authority)")]
    UnsupportedMintExtension,
    #[msg("The request at this address is another instance than the one named (it was closed and made again): re-read it")]
    RequestInstanceMismatch,
    #[msg("The model's challenge window is longer than the request's ceiling (max_challenge_window_slots)")]
    ChallengeWindowAboveCeiling,
    #[msg("The token account is not the party's recorded payout account (the request's refund account, the operator's or publisher's payout account, the challenger's bond account)")]
    WrongPayoutAccount,
    #[msg("Votes are revealed only after the vote window closes, until the reveal deadline")]
    RevealWindowNotOpen,
    #[msg("The reveal window has closed")]
    RevealWindowClosed,
    #[msg("This operator committed no vote in this dispute")]
    NoVoteCommitted,
    #[msg("The vote was revealed already")]
    AlreadyRevealed,
    #[msg("The side and salt do not match the vote's commitment")]
    CommitmentMismatch,
    #[msg("Only the program's upgrade authority may initialize it")]
    NotUpgradeAuthority,
    #[msg("Only the operator's node key or its payout wallet may do this")]
    NotOperatorKey,
    #[msg(
        "Only the operator's payout wallet may do this (unbond its stake, change where it is paid)"
    )]
    NotPayoutAuthority,
    #[msg("The payout account cannot take payments: it must be an initialized, unfrozen account of the payment mint, owned by the payout wallet, with no required memos or other extension")]
    PayoutAccountRefuses,
    #[msg("The output views do not fit the model's outputs: none (every output whole), or one per output, at least one not omitted; a slice within a fixed shape, a top-k of a float tensor with a fixed last axis of at least k classes, k and scale at least 1")]
    InvalidOutputView,
    #[msg("Every view of this model is whole, so the whole output is the result: its SHA-256 must be the result's")]
    WholeOutputHashMismatch,
    #[msg("An output URL is empty (none) or up to 200 printable ASCII bytes starting https:// or http://")]
    InvalidOutputUrl,
    #[msg("A referee model needs the Exact rule, every output whole, integer inputs and outputs of fixed shapes, 1 to 1024 nodes and the node of each output")]
    InvalidRefereeModel,
    #[msg("A referee model's input goes on chain, never by reference: the referee's step reads it from the request")]
    RefereeInputByReference,
    #[msg("A referee model's result is committed with the operator's trace root")]
    RefereeTraceRootMissing,
    #[msg("Only a referee model's result carries a trace root")]
    RefereeTraceRootUnexpected,
    #[msg("A referee model's results are disputed by a referee game (open_referee_game), never by vote")]
    RefereeModelUsesGame,
    #[msg("This model has no referee: dispute it with challenge")]
    NotRefereeModel,
    #[msg("The challenger's trace root and output root are the operator's: there is nothing to dispute")]
    RefereeNothingDisputed,
    #[msg("A referee game on this commitment is still open: it is final only once every game is settled")]
    RefereeGamesOpen,
    #[msg("This referee game is decided already")]
    RefereeGameDecided,
    #[msg("This referee game is not decided yet")]
    RefereeGameUndecided,
    #[msg("The round's deadline has passed: the party that did not move loses (claim_referee_timeout)")]
    RefereeMoveLate,
    #[msg("The round's deadline has not passed yet")]
    RefereeDeadlineNotPassed,
    #[msg("This move does not fit the game's phase, or the party has moved this round already")]
    RefereeWrongMove,
    #[msg("The move does not open the party's own commitment: children that do not hash to its node, or a value or state that does not match its leaf")]
    RefereeRevealMismatch,
    #[msg("The record or operand does not match its proof against the model's roots, the agreed trace or the request's input")]
    RefereeProofInvalid,
    #[msg(
        "Only the committing operator's node key and the game's challenger move in a referee game"
    )]
    NotGameParty,
    #[msg("The request's input is not one tensor per input spec of the referee model, with its name, dtype and fixed shape: no result for it can be committed")]
    RefereeInputMisfit,
}
