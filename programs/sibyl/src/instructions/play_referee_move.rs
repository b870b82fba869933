use crate::{
    errors::SibylError,
    events::{RefereeGameDecided, RefereeMovePlayed},
    state::{Move, Party, RefereeGame},
};
use anchor_lang::prelude::*;

#[event_cpi]
#[derive(Accounts)]
pub struct PlayRefereeMove<'info> {
    /// The committing operator's node key or the game's challenger.
    pub mover: Signer<'info>,
    #[account(mut)]
    pub game: Box<Account<'info, RefereeGame>>,
}

/// One party's move in the current round: the two children of its node,
/// its leaf's value, or its running state. Each is checked against the
/// party's own commitment; the round ends once both parties have moved.
pub fn handler(ctx: Context<PlayRefereeMove>, play: Move) -> Result<()> {
    let mover = ctx.accounts.mover.key();
    let game = &mut ctx.accounts.game;
    let party = if mover == game.operator_authority {
        Party::Operator
    } else if mover == game.challenger {
        Party::Challenger
    } else {
        return err!(SibylError::NotGameParty);
    };
    let advance = game.play(party, play, Clock::get()?.slot)?;
    let event = RefereeMovePlayed {
        game: game.key(),
        party,
        phase: advance.phase,
        level: game.level,
        index: game.index,
        deadline_slot: game.deadline_slot,
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
