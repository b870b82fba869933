use crate::{
    errors::SibylError,
    events::{RefereeGameDecided, RefereeStepProven},
    state::{GamePhase, GameSubject, InferenceRequest, Model, RefereeGame},
};
use anchor_lang::prelude::*;
use sibyl_sdk::{
    encoding,
    referee::{commit, step, Source, TensorType},
};

#[event_cpi]
#[derive(Accounts)]
pub struct ProveRefereeOperand<'info> {
    /// Anyone may prove it (the party that the step will prove right has
    /// reason to).
    pub prover: Signer<'info>,
    #[account(
        mut,
        has_one = model @ SibylError::WrongModel,
        has_one = request @ SibylError::WrongParty,
    )]
    pub game: Box<Account<'info, RefereeGame>>,
    pub model: Box<Account<'info, Model>>,
    /// The request, whose input an operand may be.
    pub request: Box<Account<'info, InferenceRequest>>,
}

/// Proves the operand the step needs next: an element of the request's
/// input (read from the request; `value` and the proofs are ignored), of a
/// weight (`element_proof` up to the weight's root, `item_proof` up to the
/// model's weights root) or of an earlier node's output (up to the node's
/// root, then the agreed trace root). The last operand decides the game.
pub fn handler(
    ctx: Context<ProveRefereeOperand>,
    value: i64,
    element_proof: Vec<[u8; 32]>,
    item_proof: Vec<[u8; 32]>,
) -> Result<()> {
    let game = &mut ctx.accounts.game;
    let (model, request) = (&ctx.accounts.model, &ctx.accounts.request);
    // The game's instance: `(model, sequence)` names one forever.
    require!(
        request.model == game.model && request.is_instance(game.request_sequence),
        SibylError::RequestInstanceMismatch
    );
    require!(
        game.phase == GamePhase::Operands,
        SibylError::RefereeWrongMove
    );
    require!(
        Clock::get()?.slot <= game.deadline_slot,
        SibylError::RefereeMoveLate
    );
    let referee = model.referee.as_ref().ok_or(SibylError::NotRefereeModel)?;
    let position = game.next_operand()?.ok_or(SibylError::RefereeWrongMove)?;
    let record = game.node_record()?;
    let (source, ty): (Source, TensorType) = match game.subject {
        GameSubject::Outputs => {
            let node = referee
                .output_nodes
                .get(game.item as usize)
                .copied()
                .ok_or(SibylError::RefereeProofInvalid)?;
            (Source::Node(node), record.output.clone())
        }
        GameSubject::Trace => {
            let operand = record
                .operand(position.slot)
                .ok_or(SibylError::RefereeProofInvalid)?;
            (operand.source, operand.ty.clone())
        }
    };
    let count = ty.count().ok_or(SibylError::RefereeProofInvalid)?;
    require!(position.index < count, SibylError::RefereeProofInvalid);
    let proven = |leaves: u64, item: u16, roots: &[[u8; 32]]| -> Result<i64> {
        require!(
            ty.dtype.wrap(value) == value
                && element_proof.len() == commit::depth(count) as usize
                && item_proof.len() == commit::depth(leaves) as usize,
            SibylError::RefereeProofInvalid
        );
        let element_root = commit::root_from(
            commit::element_leaf(ty.dtype, value),
            position.index,
            &element_proof,
        );
        // Folded up once, then compared with each root it may be under.
        let top = commit::root_from(element_root, u64::from(item), &item_proof);
        require!(
            u64::from(item) >> item_proof.len() == 0 && roots.contains(&top),
            SibylError::RefereeProofInvalid
        );
        Ok(value)
    };
    let value = match source {
        Source::Input(index) => input_element(request, index, &ty, position.index)?,
        Source::Weight(weight) => {
            require!(
                weight < referee.weight_count,
                SibylError::RefereeProofInvalid
            );
            proven(
                u64::from(referee.weight_count),
                weight,
                &[referee.weights_root],
            )?
        }
        Source::Node(node) => {
            // Only nodes before the one found are agreed (for `Outputs`,
            // every node is); an agreed node's output is the same in both
            // traces, so either party's tree proves it (each prover knows
            // only its own).
            require!(
                game.subject == GameSubject::Outputs || u64::from(node) < game.item,
                SibylError::RefereeProofInvalid
            );
            proven(u64::from(referee.node_count), node, &game.trace_roots)?
        }
    };
    let advance = game.accept_operand(value, Clock::get()?.slot)?;
    let event = RefereeStepProven {
        game: game.key(),
        phase: advance.phase,
        operands: game.operands.len() as u8,
    };
    emit_cpi!(event);
    if advance.decided {
        let event = RefereeGameDecided {
            game: game.key(),
            outcome: game.outcome,
            timed_out: false,
        };
        emit_cpi!(event);
    }
    Ok(())
}

/// Element `index` of the request's input tensor `tensor`, which must be of
/// the record's type (`commit_result` checked the input against the
/// model's fixed specs).
fn input_element(
    request: &InferenceRequest,
    tensor: u16,
    ty: &TensorType,
    index: u64,
) -> Result<i64> {
    let tensors = encoding::decode(&request.input).map_err(|_| SibylError::RefereeProofInvalid)?;
    let input = tensors
        .get(usize::from(tensor))
        .filter(|input| {
            input.dtype == ty.dtype.dtype()
                && input.dims.len() == ty.dims.len()
                && input
                    .dims
                    .iter()
                    .zip(&ty.dims)
                    .all(|(&a, &b)| a == u64::from(b))
        })
        .ok_or(SibylError::RefereeProofInvalid)?;
    let width = ty.dtype.width();
    let start = (index as usize)
        .checked_mul(width)
        .ok_or(SibylError::RefereeProofInvalid)?;
    input
        .data
        .get(start..start + width)
        .and_then(|bytes| step::element_value(ty.dtype, bytes))
        .ok_or_else(|| error!(SibylError::RefereeProofInvalid))
}
