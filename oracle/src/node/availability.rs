//! The input a service runs, the demand when a referenced input cannot be
//! had, and the upload a challenge needs: the steps serve and watch share.
//! A node that cannot get the declared bytes does not judge the request; as
//! a staked operator that did not commit it, it demands the input on chain
//! (once per request), and whoever holds the bytes writes them or the
//! request is voided. A node that holds them and finds the commitment wrong
//! puts them on chain itself before it challenges, so every voter has them.
use super::{NodeError, Shared};
use crate::referenced::InputError;
use anchor_lang::prelude::Pubkey;
use sibyl::{errors::SibylError, state::InferenceRequest};
use sibyl_client::{accounts, instruction};

use crate::actions::request as requests;

/// Refusals that mean the demand is not (or no longer) this node's to
/// make: someone demanded first, the window passed, the address holds
/// another request now, or this operator may not demand.
const NOT_NEEDED: [SibylError; 5] = [
    SibylError::InputAlreadyDemanded,
    SibylError::InputDemandClosed,
    SibylError::RequestInstanceMismatch,
    SibylError::CommitterCannotDemand,
    SibylError::OperatorNotEligible,
];

/// The request's input. When it is named by reference and this node cannot
/// get the declared bytes, the input is demanded (where this node may) and
/// the unavailability returned: the caller judges nothing and tries again
/// later (the bytes may come on chain).
pub async fn input_or_demand(
    shared: &Shared,
    request: Pubkey,
    state: &InferenceRequest,
) -> Result<Vec<u8>, NodeError> {
    let err = match shared.inputs.input_of(state, &shared.chain).await {
        Ok(bytes) => return Ok(bytes),
        Err(err @ InputError::Unavailable { .. }) => err,
        Err(err) => return Err(err.into()),
    };
    shared.metrics.inputs_unavailable.inc();
    if state.input_demanded() {
        tracing::info!(%request, %err, "the input is unavailable here and was demanded already");
        return Err(err.into());
    }
    if state.operator == shared.operator {
        tracing::warn!(%request, %err, "the input of our own commitment is unavailable here");
        return Err(err.into());
    }
    tracing::warn!(%request, %err, "the input is unavailable: demanding it on chain");
    demand(shared, request, state).await?;
    Err(err.into())
}

/// Demands the request's referenced input on chain; a refusal that means
/// it is not this node's to demand (someone did, it is too late, this
/// operator may not) is no error.
pub async fn demand(
    shared: &Shared,
    request: Pubkey,
    state: &InferenceRequest,
) -> Result<(), NodeError> {
    let demand = instruction(
        accounts::demand_input(shared.wallet, request),
        sibyl::instruction::DemandInput {
            sequence: state.sequence,
        },
    );
    match shared.chain.send("demand_input", &[demand], &[]).await {
        Ok(signature) => {
            shared.metrics.inputs_demanded.inc();
            tracing::info!(%request, %signature, "demanded the input");
        }
        Err(err) if err.refused_with_any(&NOT_NEEDED) => {
            tracing::info!(%request, %err, "no demand from this node");
        }
        Err(err) => return Err(err.into()),
    }
    Ok(())
}

/// Puts a referenced input on chain, so that it can be judged there (a
/// challenge needs it there: voters then read it, not a URI that may serve
/// some of them only): the bytes `held` already, or fetched again. Demands
/// it, then writes it into this node's own buffer, resuming where the
/// buffer ends. Done as well when another writer completed it first.
pub async fn put_on_chain(
    shared: &Shared,
    request: Pubkey,
    state: &InferenceRequest,
    held: Option<Vec<u8>>,
) -> Result<(), NodeError> {
    let input = match held {
        Some(input) => input,
        None => shared.inputs.input_of(state, &shared.chain).await?,
    };
    if !state.input_demanded() {
        demand(shared, request, state).await?;
    }
    let chain = &shared.chain;
    let from = requests::input_buffer_written(chain, request, state).await?;
    let ours = requests::write_input_buffer(chain, request, state, &input, from, |_| {}).await?;
    tracing::info!(%request, bytes = input.len(), ours, "the input is on chain");
    Ok(())
}
