//! Payment-token accounts of the parties a settlement pays: their
//! associated token accounts, created (idempotently) by whoever cranks, so a
//! party without one never blocks a settlement.
use anchor_lang::prelude::Pubkey;
use anchor_spl::associated_token::{
    get_associated_token_address_with_program_id,
    spl_associated_token_account::instruction::create_associated_token_account_idempotent,
};
use sibyl_client::accounts::Tokens;
use solana_instruction::Instruction;

/// The associated token account of `wallet` for the payment mint.
pub fn token_account(wallet: &Pubkey, tokens: &Tokens) -> Pubkey {
    get_associated_token_address_with_program_id(wallet, &tokens.mint, &tokens.token_program)
}

/// Creates `wallet`'s associated token account if it does not exist.
pub fn ensure_token_account(payer: &Pubkey, wallet: &Pubkey, tokens: &Tokens) -> Instruction {
    create_associated_token_account_idempotent(payer, wallet, &tokens.mint, &tokens.token_program)
}
