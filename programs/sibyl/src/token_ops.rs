//! Every token movement of the program, over the token interface so that SPL
//! Token and Token-2022 mints both work.
use crate::{errors::SibylError, state::Config};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{
    self, CloseAccount, Mint, TokenAccount, TokenInterface, TransferChecked,
};

/// Refuses a payment mint with a Token-2022 extension that would break the
/// accounting or hand a third party power over the vaults: a transfer fee
/// (vaults receive less than was sent), a transfer hook (any program runs on
/// every move, and can refuse it), a permanent delegate (anyone holding it
/// can drain any vault), a default account state (new escrows could start
/// frozen), the pausable extension, confidential balances, or non-transferable
/// tokens, or a close authority (a mint closed at zero supply can be made
/// again at its address with any of those). Only extensions that change
/// nothing about balances are allowed.
pub fn check_payment_mint(mint: &InterfaceAccount<Mint>) -> Result<()> {
    use anchor_spl::token_2022::spl_token_2022::{
        extension::{BaseStateWithExtensions, ExtensionType, StateWithExtensions},
        state::Mint as MintState,
    };
    let info = mint.to_account_info();
    if info.owner != &anchor_spl::token_2022::ID {
        return Ok(());
    }
    let data = info.try_borrow_data()?;
    let state = StateWithExtensions::<MintState>::unpack(&data)?;
    for extension in state.get_extension_types()? {
        require!(
            matches!(
                extension,
                ExtensionType::MetadataPointer
                    | ExtensionType::TokenMetadata
                    | ExtensionType::GroupPointer
                    | ExtensionType::TokenGroup
                    | ExtensionType::GroupMemberPointer
                    | ExtensionType::TokenGroupMember
                    | ExtensionType::InterestBearingConfig
                    | ExtensionType::ScaledUiAmount
            ),
            SibylError::UnsupportedMintExtension
        );
    }
    Ok(())
}

/// Whether `account` can take a payout owed to `party`: a token account of
/// `token_program` and `mint`, owned by `party`, not frozen, and with no
/// extension that lets its owner refuse an incoming transfer (required
/// memos). Settlements check each recorded payout account with this and
/// send the share of one that fails to the model's fee vault, so that no
/// party can block a settlement others wait on by closing, freezing or
/// guarding its own account.
pub fn accepts_payout(
    account: &AccountInfo,
    party: &Pubkey,
    mint: &Pubkey,
    token_program: &Pubkey,
) -> bool {
    use anchor_spl::token_2022::spl_token_2022::{
        extension::{
            memo_transfer::MemoTransfer, BaseStateWithExtensions, ExtensionType,
            StateWithExtensions,
        },
        state::{Account, AccountState},
    };
    if account.owner != token_program {
        return false;
    }
    let Ok(data) = account.try_borrow_data() else {
        return false;
    };
    let Ok(state) = StateWithExtensions::<Account>::unpack(&data) else {
        return false;
    };
    let memos_required = state
        .get_extension::<MemoTransfer>()
        .is_ok_and(|memo| bool::from(memo.require_incoming_transfer_memos));
    let only_harmless_extensions = state.get_extension_types().is_ok_and(|types| {
        types.iter().all(|extension| {
            matches!(
                extension,
                ExtensionType::ImmutableOwner
                    | ExtensionType::CpiGuard
                    | ExtensionType::MemoTransfer
            )
        })
    });
    state.base.mint == *mint
        && state.base.owner == *party
        && state.base.state == AccountState::Initialized
        && only_harmless_extensions
        && !memos_required
}

/// The owner of `account`, which a party names as its payout account, once
/// it is sure to [accept payouts](accepts_payout) today (it may stop later:
/// settlements then redirect, see [`payout_account`]).
pub fn payout_owner(
    account: &InterfaceAccount<TokenAccount>,
    mint: &Pubkey,
    token_program: &Pubkey,
) -> Result<Pubkey> {
    let owner = account.owner;
    require!(
        accepts_payout(&account.to_account_info(), &owner, mint, token_program),
        SibylError::PayoutAccountRefuses
    );
    Ok(owner)
}

/// The account a settlement pays `party` into: `recorded` if it
/// [accepts the payout](accepts_payout), otherwise `fallback` (the model's
/// fee vault, of the same mint). The second value says whether the payout
/// was redirected.
pub fn payout_account<'info>(
    recorded: &AccountInfo<'info>,
    party: &Pubkey,
    fallback: &InterfaceAccount<'info, TokenAccount>,
) -> (AccountInfo<'info>, bool) {
    let token_program = fallback.to_account_info().owner;
    if accepts_payout(recorded, party, &fallback.mint, token_program) {
        (recorded.clone(), false)
    } else {
        (fallback.to_account_info(), true)
    }
}

/// The mint and token program every transfer of one instruction uses.
pub struct TokenCtx<'a, 'info> {
    pub mint: &'a InterfaceAccount<'info, Mint>,
    pub token_program: &'a Interface<'info, TokenInterface>,
}

impl<'info> TokenCtx<'_, 'info> {
    /// Moves `amount` from a wallet's token account, signed by the wallet.
    pub fn transfer_from_wallet(
        &self,
        from: &InterfaceAccount<'info, TokenAccount>,
        to: &InterfaceAccount<'info, TokenAccount>,
        wallet: &Signer<'info>,
        amount: u64,
    ) -> Result<()> {
        self.transfer(
            from.to_account_info(),
            to.to_account_info(),
            wallet.to_account_info(),
            &[],
            amount,
        )
    }

    /// Moves `amount` out of a program-owned account, signed by its PDA authority.
    pub fn transfer_signed(
        &self,
        from: &InterfaceAccount<'info, TokenAccount>,
        to: &impl ToAccountInfo<'info>,
        authority: AccountInfo<'info>,
        signer_seeds: &[&[&[u8]]],
        amount: u64,
    ) -> Result<()> {
        self.transfer(
            from.to_account_info(),
            to.to_account_info(),
            authority,
            signer_seeds,
            amount,
        )
    }

    /// Moves `amount` out of the stake or bond vault, signed by the config PDA
    /// that owns both.
    pub fn transfer_from_vault(
        &self,
        vault: &InterfaceAccount<'info, TokenAccount>,
        to: &impl ToAccountInfo<'info>,
        config: &Account<'info, Config>,
        amount: u64,
    ) -> Result<()> {
        let bump = [config.bump];
        self.transfer_signed(
            vault,
            to,
            config.to_account_info(),
            &[&[Config::SEED, &bump]],
            amount,
        )
    }

    /// Closes a program-owned token account (which must be empty), sending
    /// its rent to `rent_receiver`.
    pub fn close_signed(
        &self,
        account: &InterfaceAccount<'info, TokenAccount>,
        rent_receiver: AccountInfo<'info>,
        authority: AccountInfo<'info>,
        signer_seeds: &[&[&[u8]]],
    ) -> Result<()> {
        token_interface::close_account(CpiContext::new_with_signer(
            self.token_program.key(),
            CloseAccount {
                account: account.to_account_info(),
                destination: rent_receiver,
                authority,
            },
            signer_seeds,
        ))
    }

    fn transfer(
        &self,
        from: AccountInfo<'info>,
        to: AccountInfo<'info>,
        authority: AccountInfo<'info>,
        signer_seeds: &[&[&[u8]]],
        amount: u64,
    ) -> Result<()> {
        if amount == 0 {
            return Ok(());
        }
        token_interface::transfer_checked(
            CpiContext::new_with_signer(
                self.token_program.key(),
                TransferChecked {
                    from,
                    mint: self.mint.to_account_info(),
                    to,
                    authority,
                },
                signer_seeds,
            ),
            amount,
            self.mint.decimals,
        )
    }
}
