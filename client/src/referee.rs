//! A party's side of a referee game: from the game's state on chain and
//! the party's own run ([`Party`]), the move it owes, the record and the
//! operands that prove the step, and the instructions that send them. The
//! node plays from these, and the tests play liars from them.
use crate::{accounts, instruction};
use anchor_lang::prelude::Pubkey;
use sibyl::state::{GamePhase, GameSubject, Move, RefereeGame};
use sibyl_sdk::referee::{Commitments, Party, ProvenOperand, Subject};
use solana_instruction::Instruction;

/// The SDK's name for a game's subject.
pub fn subject(game: &RefereeGame) -> Subject {
    match game.subject {
        GameSubject::Trace => Subject::Trace,
        GameSubject::Outputs => Subject::Outputs,
    }
}

/// `party`'s move in `game`'s current round, if the phase asks one.
pub fn next_move(commitments: &Commitments, party: &Party, game: &RefereeGame) -> Option<Move> {
    let subject = subject(game);
    let level = u32::from(game.level);
    Some(match game.phase {
        GamePhase::Items => Move::Children(party.children(subject, None, level, game.index)),
        GamePhase::Elements => {
            Move::Children(party.children(subject, Some(game.item), level, game.index))
        }
        GamePhase::Values => Move::Value(party.value(subject, game.item, game.element)?),
        GamePhase::Reduce => {
            let terms = if game.ends_known { game.mid() } else { game.hi };
            let record = commitments.records.get(usize::try_from(game.item).ok()?)?;
            Move::State(party.state(record, game.item, game.element, terms).ok()?)
        }
        GamePhase::Record | GamePhase::Operands | GamePhase::Decided => return None,
    })
}

/// The node whose record a game in `Record` needs: the one found, or for
/// `Outputs` the one that makes the output found.
pub fn record_node(commitments: &Commitments, game: &RefereeGame) -> Option<usize> {
    match game.subject {
        GameSubject::Trace => usize::try_from(game.item).ok(),
        GameSubject::Outputs => commitments
            .output_nodes
            .get(usize::try_from(game.item).ok()?)
            .map(|&node| usize::from(node)),
    }
}

/// The next operand of `game`'s step, proven from `party`'s run.
pub fn next_operand(
    commitments: &Commitments,
    party: &Party,
    game: &RefereeGame,
) -> Option<ProvenOperand> {
    let term = if game.ends_known { game.lo } else { 0 };
    party.next_operand(
        commitments,
        subject(game),
        game.item,
        game.element,
        term,
        &game.operands,
    )
}

/// Which side `mover` plays in `game` (the operator's node key, or
/// anyone else as the challenger).
pub fn side(game: &RefereeGame, mover: Pubkey) -> sibyl::state::Party {
    if mover == game.operator_authority {
        sibyl::state::Party::Operator
    } else {
        sibyl::state::Party::Challenger
    }
}

/// What `mover` sends for `game` now from `party`'s run, if anything. The
/// challenger, who opened the game, also proves its record and operands.
pub fn next_instruction(
    commitments: &Commitments,
    party: &Party,
    address: Pubkey,
    game: &RefereeGame,
    mover: Pubkey,
) -> Option<Instruction> {
    let proves = mover == game.challenger;
    match game.phase {
        GamePhase::Record if proves => {
            let node = record_node(commitments, game)?;
            Some(instruction(
                accounts::prove_referee_record(mover, address, game.model),
                sibyl::instruction::ProveRefereeRecord {
                    record: commitments.records.get(node)?.to_bytes(),
                    proof: commitments.graph.proof(node as u64),
                },
            ))
        }
        GamePhase::Operands if proves => {
            let operand = next_operand(commitments, party, game)?;
            Some(instruction(
                accounts::prove_referee_operand(mover, address, game.model, game.request),
                sibyl::instruction::ProveRefereeOperand {
                    value: operand.value,
                    element_proof: operand.element_proof,
                    item_proof: operand.item_proof,
                },
            ))
        }
        _ => {
            if !game.owes(side(game, mover)) {
                return None;
            }
            Some(instruction(
                accounts::play_referee_move(mover, address),
                sibyl::instruction::PlayRefereeMove {
                    play: next_move(commitments, party, game)?,
                },
            ))
        }
    }
}
