use anchor_lang::prelude::*;
use sibyl_sdk::{honest_range, FinalResult, Tensor, Verified};

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

    /// Whether what the verifiers checked of `result` shows the target
    /// digit as the top class with at least the required probability. Only
    /// verified facts count: under a `TopK` rule (the digits model's) the
    /// class is checked but not the scores, so a bounty that asks for a
    /// probability cannot be won by such a result; under `Tolerance` a
    /// score counts only at the worst its bound allows.
    pub fn is_won_by(&self, result: &FinalResult) -> bool {
        let target = self.target_digit as usize;
        match result.verified_first() {
            // A top-k view's fixed-point scores are not read here: the
            // class alone wins, as under a `TopK` rule.
            Ok(Verified::TopClasses { classes, .. }) | Ok(Verified::Ranked { classes, .. }) => {
                self.min_probability_bps == 0
                    && classes.first().and_then(|row| row.first()) == Some(&(target as u32))
            }
            Ok(Verified::Exact(tensor)) => self.won_by_scores(tensor, 0.0, 0.0),
            Ok(Verified::Approximately { tensor, abs, rel }) => {
                self.won_by_scores(tensor, abs, rel)
            }
            Err(_) => false,
        }
    }

    /// The target's honest score at its lowest beats every other class's at
    /// its highest, and reaches the probability asked ([`honest_range`]).
    fn won_by_scores(&self, tensor: &Tensor, abs: f32, rel: f32) -> bool {
        let Some(scores) = tensor.f32_values() else {
            return false;
        };
        let target = self.target_digit as usize;
        let Some(&score) = scores.get(target) else {
            return false;
        };
        let (lowest, _) = honest_range(score, abs, rel);
        let top = scores
            .iter()
            .enumerate()
            .all(|(class, &other)| class == target || honest_range(other, abs, rel).1 <= lowest);
        let confident = lowest * 10_000.0 >= self.min_probability_bps as f32;
        top && confident
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
