//! crank: the permissionless transitions nobody else has a reason to send
//! promptly: finalize results whose window passed, resolve disputes whose
//! reveal window closed (or whose committed votes are all revealed), refund
//! inconclusive disputes after the arbitration deadline, expire requests
//! nobody served, void requests whose demanded input never came, claim the
//! votes of settled disputes, end referee games (a passed deadline, a
//! decided game's settlement). It pays for nobody's accounts: every settlement pays the
//! token accounts its parties recorded (see `docs/security.md`, class 11),
//! so a crank spends its transaction fees and nothing else.
use super::{NodeError, Service, Shared};
use anchor_lang::error::ErrorCode;
use anchor_lang::prelude::Pubkey;
use futures_util::{stream, StreamExt, TryStreamExt};
use sibyl::{
    errors::SibylError,
    state::{Dispute, DisputeOutcome, InferenceRequest, Operator, RequestStatus},
};
use sibyl_client::{
    pda,
    settlement::{self, Settlement},
};
use std::sync::Arc;

pub struct Crank {
    shared: Arc<Shared>,
}

impl Crank {
    /// Every referee game's permissionless end: a claim once a deadline
    /// passed, the settlement once decided. The parties' nodes send these
    /// too; the crank makes sure a game whose parties went away still ends,
    /// so that the commitment it holds open settles.
    async fn referee_games(&self, slot: u64) -> Result<Vec<Step>, NodeError> {
        let chain = &self.shared.chain;
        let mut steps = Vec::new();
        for (game, state) in chain
            .program_accounts::<sibyl::state::RefereeGame>("referee game", Vec::new())
            .await?
        {
            if state.outcome != sibyl::state::GameOutcome::Open {
                let request: Option<InferenceRequest> =
                    chain.fetch(&state.request, "inference request").await?;
                let Some(operator) = chain.fetch::<Operator>(&state.operator, "operator").await?
                else {
                    continue;
                };
                steps.push(Step {
                    request: state.request,
                    settlement: settlement::settle_referee_game(
                        self.shared.wallet,
                        game,
                        &state,
                        request.as_ref(),
                        &operator,
                        self.shared.tokens,
                    ),
                });
            } else if slot > state.deadline_slot {
                steps.push(Step {
                    request: state.request,
                    settlement: settlement::claim_referee_timeout(self.shared.wallet, game),
                });
            }
        }
        Ok(steps)
    }

    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

/// Refusals that mean someone else already settled (or the state moved on):
/// not worth a warning.
const ALREADY_SETTLED: [SibylError; 11] = [
    SibylError::RequestNotCommitted,
    SibylError::RequestNotPending,
    SibylError::RequestNotChallenged,
    SibylError::DisputeNotOpen,
    SibylError::DisputeNotInconclusive,
    SibylError::NotVoidable,
    SibylError::InputAwaitingUpload,
    SibylError::InputBufferInUse,
    SibylError::RefereeGameDecided,
    SibylError::RefereeGameUndecided,
    SibylError::RefereeDeadlineNotPassed,
];

/// Settlements built or sent at once.
const CONCURRENT_STEPS: usize = 8;

/// A settlement the crank sends, and the request it settles (for logs).
struct Step {
    request: Pubkey,
    settlement: Settlement,
}

impl Service for Crank {
    const NAME: &'static str = "crank";
    const MIN_WOKEN_GAP: std::time::Duration = super::SCAN_GAP;

    async fn tick(&mut self) -> Result<(), NodeError> {
        let chain = &self.shared.chain;
        let slot = chain.slot().await?;
        // Each finalization reads two accounts to build: build them at once.
        let this = &*self;
        let matured = this
            .shared
            .requests(RequestStatus::Committed, None)
            .await?
            .into_iter()
            // A demanded input stops the clock until it is written.
            .filter(|(_, state)| {
                // A commitment with a referee game open is final only once
                // the game settles (`referee_games` below ends it).
                slot > state.challenge_deadline_slot
                    && !state.awaiting_input()
                    && state.open_games == 0
            });
        let mut steps: Vec<Step> = stream::iter(matured)
            .map(|(request, state)| async move { this.finalize(request, &state).await })
            .buffer_unordered(CONCURRENT_STEPS)
            .try_collect()
            .await?;
        for status in [RequestStatus::Pending, RequestStatus::Committed] {
            for (request, state) in self.shared.requests(status, None).await? {
                if state.is_voidable(slot) {
                    steps.push(Step {
                        request,
                        settlement: settlement::void_request(
                            self.shared.wallet,
                            request,
                            &state,
                            self.shared.tokens,
                        ),
                    });
                }
            }
        }
        for (request, state) in self
            .shared
            .requests(RequestStatus::Challenged, None)
            .await?
        {
            if let Some(step) = self.settle_dispute(slot, request, &state).await? {
                steps.push(step);
            }
        }
        for (request, state) in self
            .shared
            .request_index
            .expired_pending(chain, slot)
            .await?
        {
            steps.push(self.expire(request, &state));
        }
        match self.claim_settled_votes().await {
            Ok(claims) => steps.extend(claims),
            Err(err) => tracing::warn!(%err, "cannot list settled disputes to claim their votes"),
        }
        match self.referee_games(slot).await {
            Ok(games) => steps.extend(games),
            Err(err) => tracing::warn!(%err, "cannot list referee games"),
        }
        match self.close_spent_buffers().await {
            Ok(closes) => steps.extend(closes),
            Err(err) => tracing::warn!(%err, "cannot list this node's input buffers"),
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
        let Step {
            request,
            settlement,
        } = step;
        let name = settlement.name;
        let result = match chain.send(name, &settlement.instructions, &[]).await {
            // The consumer's callback fails: the settlement can skip it once
            // the grace period passed.
            Err(err) if settlement.without_callback.is_some() => {
                tracing::warn!(%request, %err, "{name} with the consumer's callback failed");
                let fallback = settlement.without_callback.as_deref().unwrap_or_default();
                chain.send(name, fallback, &[]).await
            }
            result => result,
        };
        match result {
            Ok(signature) => {
                self.shared.metrics.crank(name);
                tracing::info!(%request, %signature, "{name}");
            }
            Err(err) if err.refused_with(SibylError::CallbackAccountsMissing) => {
                tracing::warn!(%request, "the consumer's callback fails; the settlement can skip it after the grace period")
            }
            // Another cranker got there first, or the state moved on.
            Err(err)
                if err.refused_with_any(&ALREADY_SETTLED)
                    || err.refused_with(ErrorCode::AccountNotInitialized) =>
            {
                tracing::debug!(%request, %err, "{name} not needed")
            }
            Err(err) => {
                self.shared.metrics.error("crank");
                tracing::warn!(%request, %err, "{name} failed");
            }
        }
    }
}

impl Crank {
    async fn finalize(&self, request: Pubkey, state: &InferenceRequest) -> Result<Step, NodeError> {
        let shared = &self.shared;
        let payees = shared.chain.payees(state).await?;
        Ok(Step {
            request,
            settlement: settlement::finalize(shared.wallet, request, state, payees, shared.tokens),
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
        let (wallet, tokens) = (self.shared.wallet, self.shared.tokens);
        // Every committed vote revealed once the vote window closed:
        // nothing more can come before the reveal deadline.
        let decided_early =
            slot > dispute.vote_deadline_slot && dispute.all_revealed().unwrap_or(false);
        let settlement = match dispute.outcome {
            DisputeOutcome::Open if slot > dispute.reveal_deadline_slot || decided_early => {
                let payees = self.shared.chain.payees(state).await?;
                settlement::resolve_dispute(wallet, request, state, &dispute, payees, tokens)
            }
            DisputeOutcome::Inconclusive if slot > dispute.arbitration_deadline_slot => {
                settlement::expire_arbitration(wallet, request, state, &dispute, tokens)
            }
            _ => return Ok(None),
        };
        Ok(Some(Step {
            request,
            settlement,
        }))
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
                steps.push(Step {
                    request: dispute.request,
                    settlement: settlement::claim_vote(
                        self.shared.wallet,
                        dispute_key,
                        &dispute,
                        vote.operator,
                        &operator,
                        self.shared.tokens,
                    ),
                });
            }
        }
        Ok(steps)
    }

    /// Closes the input buffers this node wrote that may close (their
    /// request final or gone, or not their request's input), its rent back.
    async fn close_spent_buffers(&self) -> Result<Vec<Step>, NodeError> {
        let chain = &self.shared.chain;
        let mut steps = Vec::new();
        for (buffer, header) in chain.input_buffers_of(&self.shared.wallet).await? {
            let request: Option<InferenceRequest> = chain
                .fetch(&header.request, "inference request")
                .await
                .ok()
                .flatten();
            let in_use = request.is_some_and(|request| {
                request.model == header.model
                    && request.sequence == header.sequence
                    && request.input_buffer == buffer
                    && !request.has_final_output()
            });
            if in_use {
                continue;
            }
            steps.push(Step {
                request: header.request,
                settlement: settlement::close_input_buffer(self.shared.wallet, &header),
            });
        }
        Ok(steps)
    }

    fn expire(&self, request: Pubkey, state: &InferenceRequest) -> Step {
        Step {
            request,
            settlement: settlement::expire_request(
                self.shared.wallet,
                request,
                state,
                self.shared.tokens,
            ),
        }
    }
}
