use crate::errors::BountyError;
use anchor_lang::prelude::*;
use sibyl_consumer::FinalResult;

/// A bounty, PDA `["bounty", sponsor, id_le]`; its lamports above rent are the reward.
#[account]
#[derive(InitSpace, Debug)]
pub struct Bounty {
    pub sponsor: Pubkey,
    pub id: u64,
    /// The Sibyl model whose verdict counts (the digits classifier).
    pub model_hash: [u8; 32],
    pub target_digit: u8,
    /// Least probability of the target digit, in basis points.
    pub min_probability_bps: u16,
    /// Oldest result accepted by `claim_with_result`, in slots since commit.
    pub max_age_slots: u64,
    pub reward_lamports: u64,
    pub winner: Option<Pubkey>,
    pub bump: u8,
}

impl Bounty {
    pub const SEED: &'static [u8] = b"bounty";

    /// Whether `result` shows the target digit as the top class with at
    /// least the required probability. The digits model has one output,
    /// `probabilities`, float32 [1, 10].
    pub fn is_won_by(&self, result: &FinalResult) -> Result<bool> {
        let scores = result
            .output("probabilities")
            .or(result.outputs.first())
            .and_then(|tensor| tensor.f32_values())
            .ok_or(error!(BountyError::NotTargetDigit))?;
        let Some(&target) = scores.get(self.target_digit as usize) else {
            return Ok(false);
        };
        let top = scores.iter().all(|&score| score <= target);
        let confident = target * 10_000.0 >= self.min_probability_bps as f32;
        Ok(top && confident)
    }

    /// Moves the reward to `winner`, records it and says so.
    pub fn pay<'info>(
        &mut self,
        bounty: &AccountInfo<'info>,
        winner: &AccountInfo<'info>,
        request: Pubkey,
        via_callback: bool,
    ) -> Result<()> {
        bounty.sub_lamports(self.reward_lamports)?;
        winner.add_lamports(self.reward_lamports)?;
        self.winner = Some(winner.key());
        emit!(BountyWon {
            bounty: bounty.key(),
            winner: winner.key(),
            request,
            via_callback,
        });
        Ok(())
    }
}

/// The bounty was won.
#[event]
pub struct BountyWon {
    pub bounty: Pubkey,
    pub winner: Pubkey,
    pub request: Pubkey,
    pub via_callback: bool,
}

/// A callback brought a result that does not win (the settlement goes on).
#[event]
pub struct BountyNotWon {
    pub bounty: Pubkey,
    pub request: Pubkey,
}
