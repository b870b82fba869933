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
use anchor_lang::prelude::Pubkey;
use sibyl::state::{GameOutcome, InferenceRequest, Model, Operator, RefereeGame};
use sibyl_client::{accounts, instruction, referee, settlement};
use sibyl_sdk::referee::Party;
use solana_rpc_client_types::filter::{Memcmp, RpcFilterType};
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};
use tracing::Instrument;

pub struct Referee {
    shared: Arc<Shared>,
    /// This node's run for each game it plays, by game.
    parties: HashMap<Pubkey, Arc<Party>>,
}

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
    async fn party(
        &mut self,
        address: Pubkey,
        game: &RefereeGame,
    ) -> Result<Option<(Arc<Party>, Arc<crate::referee::RefereeModel>)>, NodeError> {
        let Some(model) = self
            .shared
            .chain
            .fetch::<Model>(&game.model, "model")
            .await?
        else {
            return Ok(None);
        };
        let referee = self.shared.runner.referee(&model).await?;
        if let Some(party) = self.parties.get(&address) {
            return Ok(Some((party.clone(), referee)));
        }
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
        let lie = faulty::referee_lie(&game.request, self.shared.faulty_rate, &referee);
        let party = Arc::new(
            self.shared
                .runner
                .referee_party(&model, referee.clone(), request.input, lie)
                .await?,
        );
        self.parties.insert(address, party.clone());
        Ok(Some((party, referee)))
    }

    /// What `game` calls for from this node now, sent.
    async fn act(
        &mut self,
        address: Pubkey,
        game: &RefereeGame,
        slot: u64,
    ) -> Result<(), NodeError> {
        let wallet = self.shared.wallet;
        let (action, instructions) = if game.outcome != GameOutcome::Open {
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
            let settle = settlement::settle_referee_game(
                wallet,
                address,
                game,
                request.as_ref(),
                &operator,
                self.shared.tokens,
            );
            (settle.name, settle.instructions)
        } else if slot > game.deadline_slot {
            (
                "claim_referee_timeout",
                vec![instruction(
                    accounts::claim_referee_timeout(wallet, address),
                    sibyl::instruction::ClaimRefereeTimeout {},
                )],
            )
        } else {
            let Some((party, referee)) = self.party(address, game).await? else {
                return Ok(());
            };
            // The challenger, who opened the game, proves its step.
            let proves = game.challenger == wallet;
            match referee::next_instruction(
                &referee.commitments,
                &party,
                address,
                game,
                wallet,
                proves,
            ) {
                Some(next) => ("play_referee_move", vec![next]),
                None => return Ok(()),
            }
        };
        let sent = self
            .shared
            .chain
            .send_receipt(action, &instructions, &[])
            .await?;
        tracing::info!(
            action,
            phase = ?game.phase,
            outcome = ?game.outcome,
            signature = %sent.signature,
            "referee game"
        );
        Ok(())
    }
}

impl Service for Referee {
    const NAME: &'static str = "referee";

    async fn tick(&mut self) -> Result<(), NodeError> {
        let slot = self.shared.chain.slot().await?;
        let games = self.games().await?;
        let live: HashSet<Pubkey> = games.iter().map(|(address, _)| *address).collect();
        self.parties.retain(|address, _| live.contains(address));
        for (address, game) in games {
            let span = tracing::info_span!("referee", game = %address, request = %game.request);
            if let Err(err) = self.act(address, &game, slot).instrument(span).await {
                // A race lost (the other party's move, a claim or a
                // settlement landed first) reads anew on the next scan.
                tracing::debug!(game = %address, %err, "referee step not taken; next scan");
            }
        }
        Ok(())
    }
}
