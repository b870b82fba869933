//! referee: plays this node's referee games, as the operator defending its
//! commitment and as the challenger of one its watch found wrong. Every
//! scan reads the games on chain and sends what each calls for: the move
//! this node owes, the record and the operands of the step (the challenger
//! bears them), a claim on a passed deadline, the settlement of a decided
//! game. Nothing is journaled: a move is recomputed from the game's state
//! and this node's own run of the model on the request's input, the same
//! after a restart, and the program refuses a move made twice.
use super::{NodeError, Service, Shared};
use crate::faulty;
use anchor_lang::{error::ErrorCode, prelude::Pubkey};
use futures_util::{stream, StreamExt};
use sibyl::{
    errors::SibylError,
    state::{GameOutcome, InferenceRequest, Model, Operator, RefereeGame},
};
use sibyl_client::{
    referee,
    settlement::{self, Settlement},
};
use sibyl_sdk::referee::Party;
use solana_rpc_client_types::filter::{Memcmp, RpcFilterType};
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

pub struct Referee {
    shared: Arc<Shared>,
    /// This node's run of each request instance it plays games on, by
    /// `(model, sequence)`: one run however many games name it.
    parties: HashMap<(Pubkey, u64), Played>,
}

/// A run and the referee model it is of.
type Played = (Arc<Party>, Arc<crate::referee::RefereeModel>);

/// Games acted on at once: a griefer's many games cannot hold up the one
/// whose deadline is near.
const CONCURRENT_GAMES: usize = 16;

/// Refusals that mean the game moved on under this node (the other party,
/// a claim or a settlement got there first): the next scan reads it anew.
const MOVED_ON: [SibylError; 4] = [
    SibylError::RefereeWrongMove,
    SibylError::RefereeGameDecided,
    SibylError::RefereeGameUndecided,
    SibylError::RefereeDeadlineNotPassed,
];

impl Referee {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            parties: HashMap::new(),
        }
    }

    /// The games this node is a party to: as the committing operator's
    /// node key, and as the challenger.
    async fn games(&self) -> Result<Vec<(Pubkey, RefereeGame)>, NodeError> {
        let mut games = Vec::new();
        for offset in [
            RefereeGame::OPERATOR_AUTHORITY_OFFSET,
            RefereeGame::CHALLENGER_OFFSET,
        ] {
            let filter = RpcFilterType::Memcmp(Memcmp::new_base58_encoded(
                offset,
                self.shared.wallet.as_ref(),
            ));
            games.extend(
                self.shared
                    .chain
                    .program_accounts::<RefereeGame>("referee game", vec![filter])
                    .await?,
            );
        }
        Ok(games)
    }

    /// This node's run for `game`: of the request's input, with the lie it
    /// committed or opened with in a drill (`--faulty`); `None` when the
    /// request is gone (the commitment was rejected by another game).
    async fn party(&mut self, game: &RefereeGame) -> Result<Option<Played>, NodeError> {
        let instance = (game.model, game.request_sequence);
        if let Some(played) = self.parties.get(&instance) {
            return Ok(Some(played.clone()));
        }
        let Some(model) = self
            .shared
            .chain
            .fetch::<Model>(&game.model, "model")
            .await?
        else {
            return Ok(None);
        };
        let request: Option<InferenceRequest> = self
            .shared
            .chain
            .fetch(&game.request, "inference request")
            .await?;
        let Some(request) = request.filter(|request| {
            request.model == game.model && request.is_instance(game.request_sequence)
        }) else {
            return Ok(None);
        };
        let referee = self.shared.runner.referee(&model).await?;
        let lie = faulty::referee_lie(
            &game.request,
            self.shared.faulty_rate,
            &referee,
            &request.input,
        );
        let party = Arc::new(
            self.shared
                .runner
                .referee_party(&model, referee.clone(), request.input, lie)
                .await?,
        );
        self.parties
            .insert(instance, (party.clone(), referee.clone()));
        Ok(Some((party, referee)))
    }

    /// What `game` calls for from this node now, if anything.
    async fn next_step(
        &mut self,
        address: Pubkey,
        game: &RefereeGame,
        slot: u64,
    ) -> Result<Option<Settlement>, NodeError> {
        let wallet = self.shared.wallet;
        if game.outcome != GameOutcome::Open {
            let request: Option<InferenceRequest> = self
                .shared
                .chain
                .fetch(&game.request, "inference request")
                .await?;
            let operator: Operator = self
                .shared
                .chain
                .fetch(&game.operator, "operator")
                .await?
                .ok_or_else(|| {
                    NodeError::Internal(format!("operator {} is gone", game.operator))
                })?;
            return Ok(Some(settlement::settle_referee_game(
                wallet,
                address,
                game,
                request.as_ref(),
                &operator,
                self.shared.tokens,
            )));
        }
        if slot > game.deadline_slot {
            return Ok(Some(settlement::claim_referee_timeout(wallet, address)));
        }
        let Some((party, referee)) = self.party(game).await? else {
            return Ok(None);
        };
        match referee::next_instruction(&referee.commitments, &party, address, game, wallet) {
            Some(next) => Ok(Some(Settlement {
                name: "play_referee_move",
                instructions: vec![next],
                without_callback: None,
            })),
            None => {
                if game.owes(referee::side(game, wallet)) {
                    self.shared.metrics.error("referee");
                    tracing::warn!(game = %address, phase = ?game.phase, "a move is owed and this node's run has none to make");
                }
                Ok(None)
            }
        }
    }

    async fn send(&self, address: Pubkey, game: &RefereeGame, step: Settlement) {
        match self
            .shared
            .chain
            .send_receipt(step.name, &step.instructions, &[])
            .await
        {
            Ok(sent) => tracing::info!(
                action = step.name,
                game = %address,
                request = %game.request,
                phase = ?game.phase,
                outcome = ?game.outcome,
                signature = %sent.signature,
                "referee game"
            ),
            Err(err)
                if err.refused_with_any(&MOVED_ON)
                    || err.refused_with(ErrorCode::AccountNotInitialized) =>
            {
                tracing::debug!(game = %address, %err, "{} not needed: the game moved on", step.name)
            }
            Err(err) => {
                self.shared.metrics.error("referee");
                tracing::warn!(game = %address, %err, "{} failed; next scan", step.name);
            }
        }
    }
}

impl Service for Referee {
    const NAME: &'static str = "referee";

    async fn tick(&mut self) -> Result<(), NodeError> {
        let slot = self.shared.chain.slot().await?;
        let mut games = self.games().await?;
        let live: HashSet<(Pubkey, u64)> = games
            .iter()
            .map(|(_, game)| (game.model, game.request_sequence))
            .collect();
        self.parties.retain(|instance, _| live.contains(instance));
        // The nearest deadline first.
        games.sort_by_key(|(_, game)| game.deadline_slot);
        let mut steps = Vec::new();
        for (address, game) in games {
            match self.next_step(address, &game, slot).await {
                Ok(Some(step)) => steps.push((address, game, step)),
                Ok(None) => {}
                Err(err) => {
                    self.shared.metrics.error("referee");
                    tracing::warn!(game = %address, %err, "cannot act on a referee game; next scan");
                }
            }
        }
        // Each confirmed on its own: one slow confirmation holds up no other.
        let this = &*self;
        stream::iter(steps)
            .for_each_concurrent(CONCURRENT_GAMES, |(address, game, step)| async move {
                this.send(address, &game, step).await
            })
            .await;
        Ok(())
    }
}
