use crate::{
    constants::{ESCROW_SEED, FEE_VAULT_SEED},
    errors::SibylError,
    events::{OperatorSlashed, PayoutRedirected, RefereeGameSettled},
    math,
    settlement::{Escrow, Payouts},
    state::{Config, GameOutcome, InferenceRequest, Model, Operator, RefereeGame, RequestStatus},
    token_ops::TokenCtx,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[event_cpi]
#[derive(Accounts)]
pub struct SettleRefereeGame<'info> {
    /// Anyone may crank a decided game.
    pub cranker: Signer<'info>,
    #[account(mut, seeds = [Config::SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(
        mut,
        close = challenger,
        has_one = operator @ SibylError::WrongOperator,
        has_one = model @ SibylError::WrongModel,
        has_one = challenger @ SibylError::WrongParty,
        has_one = challenger_token @ SibylError::WrongPayoutAccount,
        has_one = request @ SibylError::WrongParty,
    )]
    pub game: Box<Account<'info, RefereeGame>>,
    /// CHECK: the game's request, if it is still this instance and
    /// committed (another game may have rejected the commitment and closed
    /// it, and the address may hold a newer request since); read in the
    /// handler.
    #[account(mut)]
    pub request: UncheckedAccount<'info>,
    /// CHECK: the request's escrow, checked against its seeds when used.
    #[account(mut)]
    pub escrow: UncheckedAccount<'info>,
    #[account(mut)]
    pub operator: Box<Account<'info, Operator>>,
    pub model: Box<Account<'info, Model>>,
    /// CHECK: the requester's wallet (the escrow's and request's rent),
    /// checked against the request when used.
    #[account(mut)]
    pub requester: UncheckedAccount<'info>,
    /// CHECK: the challenger's wallet, receives the game's rent.
    #[account(mut)]
    pub challenger: UncheckedAccount<'info>,
    // Recorded payout accounts, checked when paid (see `Payouts`); `dup`:
    // one party may hold several roles.
    /// CHECK: the operator's recorded payout account.
    #[account(mut, dup, address = operator.payout_token @ SibylError::WrongPayoutAccount)]
    pub operator_token: UncheckedAccount<'info>,
    /// CHECK: the challenger's recorded payout account.
    #[account(mut, dup)]
    pub challenger_token: UncheckedAccount<'info>,
    /// CHECK: the request's refund account, checked against the request
    /// when used.
    #[account(mut, dup)]
    pub requester_token: UncheckedAccount<'info>,
    #[account(mut, seeds = [FEE_VAULT_SEED, model.key().as_ref()], bump = model.fee_vault_bump)]
    pub fee_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, address = config.stake_vault)]
    pub stake_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, address = config.bond_vault)]
    pub bond_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = config.payment_mint @ SibylError::WrongMint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    pub token_program: Interface<'info, TokenInterface>,
}

/// The game's request, if the commitment it disputes still stands: the
/// same instance (`(model, sequence)` names one forever; the address alone
/// may hold a request on another model since) and still committed.
fn live_request<'a>(
    info: &'a AccountInfo<'a>,
    game: &RefereeGame,
) -> Option<Account<'a, InferenceRequest>> {
    if info.owner != &crate::ID || info.data_is_empty() {
        return None;
    }
    let request = Account::<InferenceRequest>::try_from(info).ok()?;
    (request.model == game.model
        && request.is_instance(game.request_sequence)
        && request.status == RequestStatus::Committed)
        .then_some(request)
}

/// Settles a decided game and closes it. The challenger lost: its bond goes
/// to the operator. The operator lost: it is slashed, the challenger paid
/// half the slash and its bond back (the rest to the protocol; all of it
/// where the challenger was wrong too), the requester refunded and the
/// request closed. A game whose commitment another game rejected first is
/// moot: the bond returns.
pub fn handler<'info>(ctx: Context<'info, SettleRefereeGame<'info>>) -> Result<()> {
    let (settled, redirected) = settle(ctx.accounts)?;
    for event in redirected {
        emit_cpi!(event);
    }
    if settled.slashed > 0 {
        emit_cpi!(OperatorSlashed {
            operator: ctx.accounts.operator.key(),
            dispute: settled.game,
            amount: settled.slashed,
        });
    }
    emit_cpi!(settled);
    Ok(())
}

/// An account read with the transaction's lifetime (`Account::try_from`
/// borrows it for as long as the accounts it is paid alongside). The SBF
/// allocator never frees, so leaking the handle costs nothing more.
fn held<'info>(info: &AccountInfo<'info>) -> &'info AccountInfo<'info> {
    Box::leak(Box::new(info.clone()))
}

fn settle<'info>(
    accounts: &mut SettleRefereeGame<'info>,
) -> Result<(RefereeGameSettled, Vec<PayoutRedirected>)> {
    let game = &accounts.game;
    require!(
        game.outcome != GameOutcome::Open,
        SibylError::RefereeGameUndecided
    );
    require!(
        accounts.request.key() == game.request,
        SibylError::WrongParty
    );
    let tokens = TokenCtx {
        mint: &accounts.mint,
        token_program: &accounts.token_program,
    };
    let payouts = Payouts::new(game.request, &accounts.fee_vault);
    let challenger_payout = payouts.to(&accounts.challenger_token, game.challenger);
    let mut settled = RefereeGameSettled {
        request: game.request,
        game: game.key(),
        outcome: game.outcome,
        slashed: 0,
        reward: 0,
        bond_returned: false,
        commitment_rejected: false,
        refunded: 0,
        moot: false,
    };
    let Some(mut request) = live_request(held(&accounts.request), game) else {
        tokens.transfer_from_vault(
            &accounts.bond_vault,
            &challenger_payout,
            &accounts.config,
            game.bond,
        )?;
        settled.moot = true;
        settled.bond_returned = true;
        return Ok((settled, payouts.redirected()));
    };
    request.open_games = request
        .open_games
        .checked_sub(1)
        .ok_or(SibylError::MathOverflow)?;
    if game.outcome == GameOutcome::ChallengerLost {
        let operator_payout =
            payouts.to(&accounts.operator_token, accounts.operator.payout_authority);
        tokens.transfer_from_vault(
            &accounts.bond_vault,
            &operator_payout,
            &accounts.config,
            game.bond,
        )?;
        accounts.operator.disputes_won = accounts.operator.disputes_won.saturating_add(1);
        request.exit(&crate::ID)?;
    } else {
        require!(
            accounts.requester.key() == request.requester,
            SibylError::WrongParty
        );
        require!(
            accounts.requester_token.key() == request.refund_token,
            SibylError::WrongPayoutAccount
        );
        let (escrow_address, _) =
            Pubkey::find_program_address(&[ESCROW_SEED, request.key().as_ref()], &crate::ID);
        require!(
            accounts.escrow.key() == escrow_address,
            SibylError::WrongParty
        );
        let escrow = InterfaceAccount::<TokenAccount>::try_from(held(&accounts.escrow))?;
        // The challenger was right at the step: its bond comes back with
        // half the slash; the rest goes to the protocol, so that an operator
        // that challenges its own lie from another key still loses half.
        // Where the challenger was wrong too, nobody who posted a claim
        // profits.
        let fee_vault = accounts.fee_vault.to_account_info();
        let (slashed, from_active) = accounts.operator.slash(game.slash_bps)?;
        accounts.config.remove_active_stake(from_active)?;
        accounts.operator.disputes_lost = accounts.operator.disputes_lost.saturating_add(1);
        let (winner, reward) = if game.outcome == GameOutcome::OperatorLost {
            (challenger_payout.clone(), slashed / 2)
        } else {
            (fee_vault.clone(), 0)
        };
        tokens.transfer_from_vault(&accounts.stake_vault, &winner, &accounts.config, reward)?;
        tokens.transfer_from_vault(
            &accounts.stake_vault,
            &fee_vault,
            &accounts.config,
            math::sub(slashed, reward)?,
        )?;
        tokens.transfer_from_vault(&accounts.bond_vault, &winner, &accounts.config, game.bond)?;
        settled.reward = reward;
        let requester_payout = payouts.to(&accounts.requester_token, request.requester);
        settled.refunded = Escrow {
            request: &request,
            escrow: &escrow,
            tokens: TokenCtx {
                mint: &accounts.mint,
                token_program: &accounts.token_program,
            },
            rent_receiver: accounts.requester.to_account_info(),
        }
        .refund(&requester_payout)?;
        accounts.operator.close_commitment()?;
        request.close(accounts.requester.to_account_info())?;
        settled.slashed = slashed;
        settled.bond_returned = game.outcome == GameOutcome::OperatorLost;
        settled.commitment_rejected = true;
    }
    Ok((settled, payouts.redirected()))
}
