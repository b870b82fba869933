use crate::{errors::BountyError, state::Bounty};
use anchor_lang::{prelude::*, system_program};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct CreateBountyArgs {
    pub id: u64,
    pub model_hash: [u8; 32],
    pub target_digit: u8,
    pub min_probability_bps: u16,
    pub max_age_slots: u64,
    pub reward_lamports: u64,
}

#[derive(Accounts)]
#[instruction(args: CreateBountyArgs)]
pub struct CreateBounty<'info> {
    #[account(mut)]
    pub sponsor: Signer<'info>,
    #[account(
        init,
        payer = sponsor,
        space = 8 + Bounty::INIT_SPACE,
        seeds = [Bounty::SEED, sponsor.key().as_ref(), args.id.to_le_bytes().as_ref()],
        bump,
    )]
    pub bounty: Account<'info, Bounty>,
    pub system_program: Program<'info, System>,
}

/// Creates the bounty and moves the reward into it.
pub fn handler(ctx: Context<CreateBounty>, args: CreateBountyArgs) -> Result<()> {
    require!(
        args.target_digit <= 9 && args.min_probability_bps <= 10_000 && args.reward_lamports > 0,
        BountyError::InvalidBounty
    );
    ctx.accounts.bounty.set_inner(Bounty {
        sponsor: ctx.accounts.sponsor.key(),
        id: args.id,
        model_hash: args.model_hash,
        target_digit: args.target_digit,
        min_probability_bps: args.min_probability_bps,
        max_age_slots: args.max_age_slots,
        reward_lamports: args.reward_lamports,
        winner: None,
        bump: ctx.bumps.bounty,
    });
    system_program::transfer(
        CpiContext::new(
            ctx.accounts.system_program.key(),
            system_program::Transfer {
                from: ctx.accounts.sponsor.to_account_info(),
                to: ctx.accounts.bounty.to_account_info(),
            },
        ),
        args.reward_lamports,
    )
}
