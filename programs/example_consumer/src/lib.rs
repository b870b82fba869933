//! An example Sibyl consumer: a **digit bounty**. A sponsor locks lamports
//! for a target digit; whoever pays Sibyl to classify a handwritten image
//! that the digits model, once its result is final, recognizes as that
//! digit with enough confidence wins them. Both consumer paths:
//!
//! - `claim_with_result`: the claimant brings the finalized request account;
//!   the program reads it with `sibyl_sdk::read_final_result`.
//! - `sibyl_callback`: the claimant named this program (and the bounty and
//!   itself) as callback when requesting; Sibyl's `finalize` calls it.
#![allow(unexpected_cfgs)]

use anchor_lang::prelude::*;

pub mod errors;
pub mod instructions;
pub mod state;

use instructions::*;
use sibyl_sdk::CallbackData;

declare_id!("CLe7GxsahjdzvepT5SE2v5LKi7hD6g8vS4Wq37X3HcHE");

#[program]
pub mod example_consumer {
    use super::*;

    /// Sponsor: locks `reward_lamports` for an image of `target_digit`.
    pub fn create_bounty(ctx: Context<CreateBounty>, args: CreateBountyArgs) -> Result<()> {
        create_bounty::handler(ctx, args)
    }

    /// Claimant: claims with a finalized Sibyl request it paid for (read path).
    pub fn claim_with_result(ctx: Context<ClaimWithResult>) -> Result<()> {
        claim_with_result::handler(ctx)
    }

    /// Sibyl: delivers a final result to a bounty named at request time (callback path).
    pub fn sibyl_callback(ctx: Context<SibylCallback>, data: CallbackData) -> Result<()> {
        sibyl_callback::handler(ctx, data)
    }
}
