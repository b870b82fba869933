//! crank: the permissionless transitions nobody else has a reason to send
//! promptly: finalize results whose window passed, resolve disputes whose
//! reveal window closed (or whose committed votes are all revealed), refund
//! inconclusive disputes after the arbitration deadline, expire requests
//! nobody served, claim the votes of settled disputes. It pays for nobody's accounts: every settlement pays the
//! token accounts its parties recorded (see `docs/security.md`, class 11),
//! so a crank spends its transaction fees and nothing else.
use super::{NodeError, Service, Shared};
use crate::chain::ChainClient;
use anchor_lang::error::ErrorCode;
use anchor_lang::prelude::Pubkey;
use futures_util::{stream, StreamExt, TryStreamExt};
use sibyl::{
    errors::SibylError,
    state::{Dispute, DisputeOutcome, InferenceRequest, Model, Operator, RequestStatus},
};
use sibyl_client::{
    accounts::{self, Payees, RequestParties, Tokens, VoteParties},
    instruction, pda,
};
use solana_instruction::Instruction;
use std::sync::Arc;

pub struct Crank {
    shared: Arc<Shared>,
}

impl Crank {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

/// Refusals that mean someone else already settled (or the state moved on):
/// not worth a warning.
const ALREADY_SETTLED: [SibylError; 5] = [
    SibylError::RequestNotCommitted,
    SibylError::RequestNotPending,
    SibylError::RequestNotChallenged,
    SibylError::DisputeNotOpen,
    SibylError::DisputeNotInconclusive,
];

/// A transition the crank sends, named for logs and metrics.
/// Settlements built or sent at once.
const CONCURRENT_STEPS: usize = 8;

struct Step {
    name: &'static str,
    request: Pubkey,
    instructions: Vec<Instruction>,
    /// The same settlement leaving out the consumer's callback, tried when
    /// the callback fails: the program accepts it once the grace period
    /// after the result became settleable has passed.
    without_callback: Option<Vec<Instruction>>,
}

impl Service for Crank {
    const NAME: &'static str = "crank";

    async fn tick(&mut self) -> Result<(), NodeError> {
        let chain = &self.shared.chain;
        let slot = chain.slot().await?;
        // Each finalization reads two accounts to build: build them at once.
        let this = &*self;
        let matured = chain
            .requests(RequestStatus::Committed, None)
            .await?
            .into_iter()
            .filter(|(_, state)| slot > state.challenge_deadline_slot);
        let mut steps: Vec<Step> = stream::iter(matured)
            .map(|(request, state)| async move { this.finalize(request, &state).await })
            .buffer_unordered(CONCURRENT_STEPS)
            .try_collect()
            .await?;
        for (request, state) in chain.requests(RequestStatus::Challenged, None).await? {
            if let Some(step) = self.settle_dispute(slot, request, &state).await? {
                steps.push(step);
            }
        }
        for (request, state) in chain.requests(RequestStatus::Pending, None).await? {
            if slot > state.deadline_slot {
                steps.push(self.expire(request, &state));
            }
        }
        match self.claim_settled_votes().await {
            Ok(claims) => steps.extend(claims),
            Err(err) => tracing::warn!(%err, "cannot list settled disputes to claim their votes"),
        }
        if let Some(operator) = self.shared.operator_account().await? {
            self.shared
                .metrics
                .disputes_won
                .set(operator.disputes_won.into());
            self.shared
                .metrics
                .disputes_lost
                .set(operator.disputes_lost.into());
        }
        // Settlements of different requests are independent: send several
        // at a time, each confirmed on its own.
        stream::iter(steps)
            .for_each_concurrent(CONCURRENT_STEPS, |step| self.send_step(step))
            .await;
        Ok(())
    }
}

impl Crank {
    /// Sends one settlement; failures are logged and counted, not returned
    /// (the next scan tries again).
    async fn send_step(&self, step: Step) {
        let chain = &self.shared.chain;
        let result = match chain.send(step.name, &step.instructions, &[]).await {
            Err(err) if step.without_callback.is_some() => {
                tracing::warn!(request = %step.request, %err, "{} with the consumer's callback failed", step.name);
                let fallback = step.without_callback.as_deref().unwrap_or_default();
                chain.send(step.name, fallback, &[]).await
            }
            result => result,
        };
        match result {
            Ok(signature) => {
                self.shared.metrics.crank(step.name);
                tracing::info!(request = %step.request, %signature, "{}", step.name);
            }
            Err(err) if err.refused_with(SibylError::CallbackAccountsMissing) => {
                tracing::warn!(request = %step.request, "the consumer's callback fails; the settlement can skip it after the grace period")
            }
            // Another cranker got there first, or the state moved on.
            Err(err)
                if err.refused_with_any(&ALREADY_SETTLED)
                    || err.refused_with(ErrorCode::AccountNotInitialized) =>
            {
                tracing::debug!(request = %step.request, %err, "{} not needed", step.name)
            }
            Err(err) => {
                self.shared.metrics.error("crank");
                tracing::warn!(request = %step.request, %err, "{} failed", step.name);
            }
        }
    }
}

/// The payout accounts the operator and the publisher of this request
/// recorded.
async fn payees(chain: &ChainClient, state: &InferenceRequest) -> Result<Payees, NodeError> {
    let model: Model = chain.fetch_required(&state.model, "model").await?;
    let operator: Operator = chain.fetch_required(&state.operator, "operator").await?;
    Ok(Payees::recorded(&operator, &model))
}

/// The instructions that finalize a committed request whose window passed,
/// with the consumer's callback accounts when it named a callback.
pub async fn finalize_instructions(
    chain: &ChainClient,
    tokens: &Tokens,
    cranker: &Pubkey,
    request: Pubkey,
    state: &InferenceRequest,
) -> Result<Vec<Instruction>, NodeError> {
    let payees = payees(chain, state).await?;
    let mut instructions = vec![instruction(
        accounts::finalize(
            *cranker,
            RequestParties::of(request, state),
            payees,
            *tokens,
        ),
        sibyl::instruction::Finalize {},
    )];
    with_callback(&mut instructions, state);
    Ok(instructions)
}

/// Appends the consumer's callback accounts (if any) to the settlement, the
/// last instruction.
fn with_callback(instructions: &mut [Instruction], state: &InferenceRequest) {
    if let Some(settlement) = instructions.last_mut() {
        settlement
            .accounts
            .extend(accounts::callback_accounts(state));
    }
}

/// The settlement without its callback accounts, for a request that named one.
fn without_callback(
    instructions: &[Instruction],
    state: &InferenceRequest,
) -> Option<Vec<Instruction>> {
    if !state.has_callback() {
        return None;
    }
    let named = accounts::callback_accounts(state).len();
    let mut bare = instructions.to_vec();
    if let Some(settlement) = bare.last_mut() {
        let kept = settlement.accounts.len().saturating_sub(named);
        settlement.accounts.truncate(kept);
    }
    Some(bare)
}

impl Crank {
    async fn finalize(&self, request: Pubkey, state: &InferenceRequest) -> Result<Step, NodeError> {
        let shared = &self.shared;
        let instructions = finalize_instructions(
            &shared.chain,
            &shared.tokens,
            &shared.wallet,
            request,
            state,
        )
        .await?;
        Ok(Step {
            name: "finalize",
            request,
            without_callback: without_callback(&instructions, state),
            instructions,
        })
    }

    async fn settle_dispute(
        &self,
        slot: u64,
        request: Pubkey,
        state: &InferenceRequest,
    ) -> Result<Option<Step>, NodeError> {
        let dispute: Dispute = self
            .shared
            .chain
            .fetch_required(&pda::dispute_of(state), "dispute")
            .await?;
        let tokens = self.shared.tokens;
        let parties = RequestParties::of(request, state);
        let mut instructions = Vec::new();
        // Every committed vote revealed once the vote window closed:
        // nothing more can come before the reveal deadline.
        let decided_early =
            slot > dispute.vote_deadline_slot && dispute.all_revealed().unwrap_or(false);
        match dispute.outcome {
            DisputeOutcome::Open if slot > dispute.reveal_deadline_slot || decided_early => {
                let payees = payees(&self.shared.chain, state).await?;
                let settle = accounts::settle_dispute(
                    parties,
                    dispute.challenger,
                    dispute.challenger_token,
                    payees,
                    tokens,
                );
                instructions.push(instruction(
                    accounts::resolve_dispute(self.shared.wallet, settle),
                    sibyl::instruction::ResolveDispute {},
                ));
                with_callback(&mut instructions, state);
                Ok(Some(Step {
                    name: "resolve_dispute",
                    request,
                    without_callback: without_callback(&instructions, state),
                    instructions,
                }))
            }
            DisputeOutcome::Inconclusive if slot > dispute.arbitration_deadline_slot => {
                instructions.push(instruction(
                    accounts::expire_arbitration(
                        self.shared.wallet,
                        parties,
                        dispute.challenger,
                        dispute.challenger_token,
                        tokens,
                    ),
                    sibyl::instruction::ExpireArbitration {},
                ));
                Ok(Some(Step {
                    name: "expire_arbitration",
                    request,
                    instructions,
                    without_callback: None,
                }))
            }
            _ => Ok(None),
        }
    }

    /// Claims every vote of every settled dispute: a claim pays the voter,
    /// or takes its penalty, whoever sends it, and the last one closes the
    /// dispute, so no vote or dispute account is left open by a voter that
    /// never claims.
    async fn claim_settled_votes(&self) -> Result<Vec<Step>, NodeError> {
        let chain = &self.shared.chain;
        let mut steps = Vec::new();
        for (dispute_key, dispute) in chain
            .program_accounts::<Dispute>("dispute", Vec::new())
            .await?
        {
            if !dispute.is_settled() {
                continue;
            }
            let votes = match chain.votes_in(&dispute_key).await {
                Ok(votes) => votes,
                Err(err) => {
                    tracing::warn!(dispute = %dispute_key, %err, "cannot list its votes");
                    continue;
                }
            };
            for (_, vote) in votes {
                let operator: Operator =
                    match chain.fetch_required(&vote.operator, "operator").await {
                        Ok(operator) => operator,
                        Err(err) => {
                            tracing::warn!(operator = %vote.operator, %err, "cannot read a voter");
                            continue;
                        }
                    };
                let parties = VoteParties::of(dispute_key, &dispute, vote.operator, &operator);
                steps.push(Step {
                    name: "claim_vote",
                    request: dispute.request,
                    instructions: vec![instruction(
                        accounts::claim_vote(self.shared.wallet, parties, self.shared.tokens),
                        sibyl::instruction::ClaimVote {},
                    )],
                    without_callback: None,
                });
            }
        }
        Ok(steps)
    }

    fn expire(&self, request: Pubkey, state: &InferenceRequest) -> Step {
        let tokens = self.shared.tokens;
        Step {
            name: "expire_request",
            request,
            without_callback: None,
            instructions: vec![instruction(
                accounts::expire_request(
                    self.shared.wallet,
                    RequestParties::of(request, state),
                    tokens,
                ),
                sibyl::instruction::ExpireRequest {},
            )],
        }
    }
}
