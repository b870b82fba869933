use crate::{
    constants::{
        CONFIG_SEED, MAX_PROTOCOL_FEE_BPS, MAX_QUORUM_AND_THRESHOLD_BPS, MAX_SLASH_BPS,
        MAX_WINDOW_SLOTS, MIN_CONFIG_TIMELOCK_SLOTS, MIN_WINDOW_SLOTS,
    },
    errors::SibylError,
    math,
};
use anchor_lang::prelude::*;

/// Protocol parameters that the authority may tune with `update_config`.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub struct ConfigParams {
    /// Share of each paid fee that goes to the treasury.
    pub protocol_fee_bps: u16,
    /// Least stake an operator needs to commit (any stake bonded before a
    /// dispute may vote in it).
    pub min_operator_stake: u64,
    /// Slots a committed result waits before it can be finalized (unless the model overrides).
    pub challenge_window_slots: u64,
    /// Bond a challenger posts, in payment-token base units.
    pub challenge_bond: u64,
    /// Slots verifiers have to vote once a dispute opens.
    pub vote_window_slots: u64,
    /// Share of the eligible stake that must vote for a dispute to be decided.
    pub quorum_bps: u16,
    /// Share of the votes cast that one side needs to win; above 5000.
    pub threshold_bps: u16,
    /// Share of the losing operator's stake that is slashed.
    pub slash_bps: u16,
    /// Share of the loser's forfeit (bond or slash) paid to the winning voters.
    pub voter_reward_bps: u16,
    /// Slots between `request_unstake` and `withdraw_stake`.
    pub unbonding_slots: u64,
    /// Slots a request may stay pending before anyone can expire it.
    pub request_timeout_slots: u64,
    /// Slots the authority has to arbitrate an inconclusive dispute before it is refunded.
    pub arbitration_window_slots: u64,
}

impl ConfigParams {
    /// Checks every bound; the error names the broken rule.
    pub fn validate(&self) -> Result<()> {
        for bps in [
            self.protocol_fee_bps,
            self.quorum_bps,
            self.threshold_bps,
            self.slash_bps,
            self.voter_reward_bps,
        ] {
            require!(
                bps as u64 <= crate::constants::BPS_DENOMINATOR,
                SibylError::InvalidBps
            );
        }
        require!(self.threshold_bps > 5_000, SibylError::InvalidThreshold);
        require!(
            self.protocol_fee_bps <= MAX_PROTOCOL_FEE_BPS,
            SibylError::ParameterOutOfBounds
        );
        require!(
            (1..=MAX_SLASH_BPS).contains(&self.slash_bps)
                && (1..=MAX_QUORUM_AND_THRESHOLD_BPS).contains(&self.quorum_bps)
                && self.threshold_bps <= MAX_QUORUM_AND_THRESHOLD_BPS,
            SibylError::ParameterOutOfBounds
        );
        for window in [
            self.challenge_window_slots,
            self.vote_window_slots,
            self.unbonding_slots,
            self.request_timeout_slots,
            self.arbitration_window_slots,
        ] {
            require!(
                (1..=MAX_WINDOW_SLOTS).contains(&window),
                SibylError::InvalidWindow
            );
        }
        for watched in [self.challenge_window_slots, self.vote_window_slots] {
            require!(watched >= MIN_WINDOW_SLOTS, SibylError::InvalidWindow);
        }
        require!(self.min_operator_stake > 0, SibylError::ZeroAmount);
        require!(self.challenge_bond > 0, SibylError::ZeroAmount);
        // A bond nobody can post would stop challenges: contesting a result
        // never costs more than the least stake that may commit one.
        require!(
            self.challenge_bond <= self.min_operator_stake,
            SibylError::ParameterOutOfBounds
        );
        Ok(())
    }
}

/// The protocol's singleton configuration, PDA `["config"]`. It is also the
/// authority of the stake and bond vaults.
#[account]
#[derive(InitSpace, Debug)]
pub struct Config {
    /// Governs parameters, pausing and arbitration.
    pub authority: Pubkey,
    /// The SPL (or Token-2022) mint every fee, stake and bond is paid in.
    pub payment_mint: Pubkey,
    /// Token account that receives protocol fees.
    pub treasury: Pubkey,
    /// Vault holding operator stake.
    pub stake_vault: Pubkey,
    /// Vault holding challenge bonds and voter reward pools.
    pub bond_vault: Pubkey,
    /// Tunable parameters.
    pub params: ConfigParams,
    /// Sum of all operators' active stake (pending unstakes excluded).
    pub total_active_stake: u64,
    /// When set, new requests, commits and registrations are refused.
    pub paused: bool,
    /// The key `update_config` named as the next authority; it takes over
    /// only by signing `accept_authority` (default: none).
    pub pending_authority: Pubkey,
    /// Parameters `update_config` set, waiting out their timelock.
    pub pending_params: ConfigParams,
    /// Slot from which `apply_config` may make `pending_params` current
    /// (zero: nothing pending).
    pub pending_params_slot: u64,
    /// Bump of this PDA.
    pub bump: u8,
    /// Bump of the stake vault PDA.
    pub stake_vault_bump: u8,
    /// Bump of the bond vault PDA.
    pub bond_vault_bump: u8,
}

impl Config {
    /// Seed of this account.
    pub const SEED: &'static [u8] = CONFIG_SEED;

    /// Schedules `params` (validated) to apply once the current unbonding
    /// period (at least [`MIN_CONFIG_TIMELOCK_SLOTS`]) has passed: every
    /// operator who objects to new terms can leave before they bind it, and
    /// every watcher sees them coming.
    pub fn schedule_params(&mut self, params: ConfigParams, slot: u64) -> Result<u64> {
        params.validate()?;
        let timelock = self.params.unbonding_slots.max(MIN_CONFIG_TIMELOCK_SLOTS);
        let effective_slot = math::add(slot, timelock)?;
        self.pending_params = params;
        self.pending_params_slot = effective_slot;
        Ok(effective_slot)
    }

    /// Makes the pending parameters current once their timelock has passed.
    pub fn apply_pending_params(&mut self, slot: u64) -> Result<ConfigParams> {
        require!(self.pending_params_slot > 0, SibylError::NoPendingChange);
        require!(
            slot >= self.pending_params_slot,
            SibylError::TimelockNotElapsed
        );
        self.params = self.pending_params;
        self.pending_params_slot = 0;
        Ok(self.params)
    }

    /// Fails with [`SibylError::ProtocolPaused`] while paused.
    pub fn require_not_paused(&self) -> Result<()> {
        require!(!self.paused, SibylError::ProtocolPaused);
        Ok(())
    }

    /// Adds to the active stake total.
    pub fn add_active_stake(&mut self, amount: u64) -> Result<()> {
        self.total_active_stake = math::add(self.total_active_stake, amount)?;
        Ok(())
    }

    /// Removes from the active stake total.
    pub fn remove_active_stake(&mut self, amount: u64) -> Result<()> {
        self.total_active_stake = math::sub(self.total_active_stake, amount)?;
        Ok(())
    }
}
