use crate::{
    errors::SibylError,
    events::InputWritten,
    hashing,
    state::{Config, InferenceRequest, RequestStatus},
};
use anchor_lang::{
    prelude::*,
    system_program::{transfer, Transfer},
};

#[event_cpi]
#[derive(Accounts)]
pub struct WriteInput<'info> {
    /// Pays the rent of the bytes it writes (returned when the request closes).
    #[account(mut)]
    pub requester: Signer<'info>,
    #[account(seeds = [Config::SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(
        mut,
        seeds = [InferenceRequest::SEED, request.requester.as_ref(), request.nonce.to_le_bytes().as_ref()],
        bump = request.bump,
        has_one = requester @ SibylError::NotRequester,
    )]
    pub request: Box<Account<'info, InferenceRequest>>,
    pub system_program: Program<'info, System>,
}

/// Appends one chunk of an input the request carries. Chunks must arrive in
/// order, so a replayed or reordered chunk is refused instead of corrupting
/// the input. The account grows by the chunk (a chunk fits one transaction,
/// far under the 10 KiB an instruction may grow an account by). A
/// referenced input goes into an input buffer instead
/// (`write_input_buffer`).
pub fn handler(ctx: Context<WriteInput>, offset: u32, data: Vec<u8>) -> Result<()> {
    ctx.accounts.config.require_not_paused()?;
    let request = &ctx.accounts.request;
    require!(!request.is_by_reference(), SibylError::InputIsByReference);
    require!(!request.input_complete(), SibylError::InputAlreadyComplete);
    require!(
        request.status == RequestStatus::Pending,
        SibylError::RequestNotPending
    );
    require!(
        offset as usize == request.input.len(),
        SibylError::InputOffsetMismatch
    );
    let end = (offset as usize)
        .checked_add(data.len())
        .ok_or_else(|| error!(SibylError::MathOverflow))?;
    require!(end <= request.input_len as usize, SibylError::InputOverflow);
    grow(&ctx, data.len())?;

    let request = &mut ctx.accounts.request;
    request.input.extend_from_slice(&data);
    let input_hash = if request.input_complete() {
        request.input_hash = hashing::input_hash(&request.input);
        Some(request.input_hash)
    } else {
        None
    };
    let event = InputWritten {
        request: request.key(),
        written: end as u32,
        input_len: request.input_len,
        input_hash,
    };
    emit_cpi!(event);
    Ok(())
}

/// Grows the request account by `added` bytes, the requester topping up its
/// rent.
fn grow(ctx: &Context<WriteInput>, added: usize) -> Result<()> {
    let account = ctx.accounts.request.to_account_info();
    let new_len = account
        .data_len()
        .checked_add(added)
        .ok_or_else(|| error!(SibylError::MathOverflow))?;
    let needed = Rent::get()?
        .minimum_balance(new_len)
        .saturating_sub(account.lamports());
    if needed > 0 {
        transfer(
            CpiContext::new(
                ctx.accounts.system_program.key(),
                Transfer {
                    from: ctx.accounts.requester.to_account_info(),
                    to: account.clone(),
                },
            ),
            needed,
        )?;
    }
    account.resize(new_len)?;
    Ok(())
}
