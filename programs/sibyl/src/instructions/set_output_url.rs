use crate::{errors::SibylError, events::OperatorOutputUrlSet, state::Operator};
use anchor_lang::prelude::*;

#[event_cpi]
#[derive(Accounts)]
pub struct SetOutputUrl<'info> {
    /// The node key: the node that stores the outputs says where it serves
    /// them.
    pub authority: Signer<'info>,
    #[account(
        mut,
        seeds = [Operator::SEED, authority.key().as_ref()],
        bump = operator.bump,
        has_one = authority @ SibylError::WrongOperator,
    )]
    pub operator: Box<Account<'info, Operator>>,
}

/// Names where the operator's node serves whole outputs, or none. Allowed
/// while paused: it moves no tokens and decides nothing.
pub fn handler(ctx: Context<SetOutputUrl>, output_url: String) -> Result<()> {
    require!(
        Operator::is_valid_output_url(&output_url),
        SibylError::InvalidOutputUrl
    );
    let operator = &mut ctx.accounts.operator;
    operator.output_url = output_url;
    let event = OperatorOutputUrlSet {
        operator: operator.key(),
        output_url: operator.output_url.clone(),
    };
    emit_cpi!(event);
    Ok(())
}
