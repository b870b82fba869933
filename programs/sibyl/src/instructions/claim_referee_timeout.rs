use crate::{events::RefereeGameDecided, state::RefereeGame};
use anchor_lang::prelude::*;

#[event_cpi]
#[derive(Accounts)]
pub struct ClaimRefereeTimeout<'info> {
    /// Anyone may crank a missed deadline.
    pub cranker: Signer<'info>,
    #[account(mut)]
    pub game: Box<Account<'info, RefereeGame>>,
}

/// Decides a game whose round's deadline passed: a party that owes a move
/// loses; where a record or an operand was awaited, the challenger does.
pub fn handler(ctx: Context<ClaimRefereeTimeout>) -> Result<()> {
    let game = &mut ctx.accounts.game;
    let outcome = game.time_out(Clock::get()?.slot)?;
    let event = RefereeGameDecided {
        game: game.key(),
        outcome,
        timed_out: true,
    };
    emit_cpi!(event);
    Ok(())
}
